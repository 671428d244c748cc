"""Load-test Kaimen next to a bare Flask app under the same gunicorn settings (``make bench``).

Builds a throw-away SQLite database with the demo county, serves it with gunicorn on
127.0.0.1, loads each scenario with wrk and writes ``results/latest.json`` and a Markdown
table (also into README.md between ``<!-- bench:start -->`` and ``<!-- bench:end -->``).
Throughput is given as a ratio to the bare app, since absolute numbers depend on the machine:
the bare app is served all along, and its "hello" is loaded for ``BESIDE`` just before each
scenario, whose ratio is to that run. A virtual machine's pace moves from minute to minute,
so one baseline at one end of a ten-minute run would move every ratio with it.

Add a scenario by appending to ``SCENARIOS`` (and a server to ``SERVERS`` if it needs one).
``BENCH_DURATION`` sets how long wrk loads each scenario (default ``10s``).
"""

from __future__ import annotations

import http.cookiejar
import json
import os
import platform
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
BIN = Path(sys.executable).parent
RESULTS = HERE / "results" / "latest.json"
README = ROOT / "README.md"
START, END = "<!-- bench:start -->", "<!-- bench:end -->"

GUNICORN = ["--workers", "2", "--threads", "1", "--worker-class", "sync",
            "--log-level", "warning", "--graceful-timeout", "5"]
WRK_THREADS, WRK_CONNECTIONS = 2, 16
DURATION = os.environ.get("BENCH_DURATION", "10s")
WARMUP = "2s"
BESIDE = "3s"  # bare Flask's hello, just before each scenario: the ratio's denominator
BASELINE = "bare"
# An admin URL of a PostgreSQL server (e.g. postgresql://postgres@127.0.0.1:5432/test) adds
# the same page served from PostgreSQL, as the non-superuser role that row-level security binds.
POSTGRES_ADMIN_URL = os.environ.get("BENCH_POSTGRES_URL")
APP_ROLE = "kaimen_app"
# Scripts run after the demo is loaded, each printing a JSON object of figures last.
DATA_SCRIPTS = [HERE / "homevisits_data.py"]


@dataclass(frozen=True)
class Server:
    name: str
    target: str  # what gunicorn serves
    kaimen: bool  # needs the demo database and a secret key


@dataclass(frozen=True)
class Scenario:
    name: str
    server: str  # a key of SERVERS
    path: str
    status: int = 200  # what the page must answer before it is loaded
    user: str | None = None  # a demo user to log in as first (staff pages)


SERVERS = {
    "kaimen": Server("kaimen", "kaimen:create_app()", kaimen=True),
    "bare": Server("bare", "bare_app:app", kaimen=False),
}
if POSTGRES_ADMIN_URL:
    SERVERS["kaimen-pg"] = Server("kaimen-pg", "kaimen:create_app()", kaimen=True)

SCENARIOS = [
    Scenario("public school page", "kaimen", "/s/shiyan-xiaoxue/"),
    Scenario("health check", "kaimen", "/healthz"),
    Scenario("pledge board", "kaimen", "/s/shiyan-xiaoxue/pledges/"),
    Scenario("open-day list", "kaimen", "/s/shiyan-xiaoxue/opendays/"),
    Scenario("complaint form", "kaimen", "/s/shiyan-xiaoxue/complaints/"),
    # The home-visit book at scale (homevisits_data.py): 3 classes of 50 for the teacher,
    # 3,000 students and 30,000 visits for the school's coverage.
    Scenario("home visits: my classes, 3 × 50 students", "kaimen", "/s/shiyan-xiaoxue/homevisits/",
             user="bench.teacher"),
    Scenario("home visits: school coverage, 3,000 students, 30,000 visits", "kaimen",
             "/s/shiyan-xiaoxue/homevisits/coverage", user="sxx.admin"),
    Scenario("bare Flask hello", "bare", "/"),
    Scenario("public school page, PostgreSQL with RLS", "kaimen-pg", "/s/shiyan-xiaoxue/"),
]


class BenchError(RuntimeError):
    """The benchmark could not run; the message says why."""


def say(text: str = "") -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def seconds(duration: str) -> float:
    """Turn a wrk duration (``10``, ``10s``, ``2m``, ``1h``) into seconds."""
    match = re.fullmatch(r"(\d+(?:\.\d+)?)([smh]?)", duration.strip())
    if not match:
        raise BenchError(f"BENCH_DURATION={duration!r}: use a number of seconds such as 10s or 1m")
    return float(match[1]) * {"": 1, "s": 1, "m": 60, "h": 3600}[match[2]]


def build_database(workdir: Path, env: dict[str, str]) -> dict[str, Any]:
    """Migrate a fresh SQLite database, load the demo county, its demo data and extra rows.

    Return the figures the data scripts print (a JSON object each), such as import times.
    """
    flask = [str(BIN / "flask"), "--app", "kaimen"]
    steps = [[*flask, "db", "upgrade"], [*flask, "kaimen", "tenants", "load", "tenants/jiayu.toml"],
             [*flask, "kaimen", "demo", "load"]]
    steps += [[sys.executable, str(script)] for script in DATA_SCRIPTS]
    figures: dict[str, Any] = {}
    for step in steps:
        done = subprocess.run(step, cwd=ROOT, env=env, capture_output=True,
                              text=True, timeout=600, check=False)
        if done.returncode != 0:
            raise BenchError(f"{' '.join(step[1:])} failed:\n{done.stdout}{done.stderr}")
        if step[0] == sys.executable and done.stdout.strip():
            figures |= json.loads(done.stdout.strip().splitlines()[-1])
    return figures


def session_cookie(base: str, username: str, password: str) -> str:
    """Log ``username`` in through the login form; return the Cookie header to send."""
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    with opener.open(base + "/login", timeout=10) as response:
        token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', response.read().decode())
    if token is None:
        raise BenchError("the login page has no CSRF token")
    form = urllib.parse.urlencode({"username": username, "password": password,
                                   "csrf_token": token[1]}).encode()
    opener.open(base + "/login", data=form, timeout=60).close()  # it follows to a staff page
    cookie = "; ".join(f"{c.name}={c.value}" for c in jar)
    if "session" not in cookie:
        raise BenchError(f"logging in as {username} failed")
    return cookie


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until_up(process: subprocess.Popen, url: str, log: Path, limit: float = 60) -> None:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise BenchError(f"gunicorn exited with {process.returncode}:\n{log.read_text()}")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except urllib.error.HTTPError:
            return  # it answers; the scenario checks the status
        except OSError:
            time.sleep(0.2)
    raise BenchError(f"gunicorn did not answer {url} within {limit:.0f}s:\n{log.read_text()}")


def start(server: Server, env: dict[str, str], workdir: Path, port: int | None = None,
          options: tuple[str, ...] = ()) -> tuple[subprocess.Popen, str, Path]:
    """Start gunicorn for ``server`` on 127.0.0.1 (a free port unless ``port`` is given) in
    its own session; return the master process, the base URL and its log, without waiting.
    ``options`` override the shared gunicorn settings (``--threads 16``)."""
    port = port or free_port()
    log = workdir / f"gunicorn-{server.name}.log"
    command = [str(BIN / "gunicorn"), *GUNICORN, *options, "--bind", f"127.0.0.1:{port}",
               "--pythonpath", str(HERE), server.target]
    with log.open("a") as output:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=output,
                                   stderr=subprocess.STDOUT, start_new_session=True)
    return process, f"http://127.0.0.1:{port}", log


@contextmanager
def serve(server: Server, env: dict[str, str], workdir: Path) -> Iterator[str]:
    """Run gunicorn for ``server`` on a free loopback port; stop it whatever happens."""
    process, base, log = start(server, env, workdir)
    try:
        wait_until_up(process, base + "/", log)
        yield base
    finally:
        stop(process)


def stop(process: subprocess.Popen) -> None:
    if process.poll() is not None:
        return
    process.terminate()  # gunicorn's master stops its workers on SIGTERM
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)  # its own session: only gunicorn and workers
        process.wait(timeout=5)


def check_status(url: str, expected: int, cookie: str | None = None) -> None:
    request = urllib.request.Request(url, headers={"Cookie": cookie} if cookie else {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            status = response.status
    except urllib.error.HTTPError as error:
        status = error.code
    if status != expected:
        raise BenchError(f"{url} answered {status}, expected {expected}")


UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}


def parse_wrk(output: str) -> dict[str, Any]:
    """Read requests/sec, the --latency percentiles and report.lua's JSON line."""
    rate = re.search(r"^Requests/sec:\s+([\d.]+)", output, re.M)
    marker = re.search(r"^BENCH_JSON (.+)$", output, re.M)
    if rate is None or marker is None:
        raise BenchError(f"cannot read wrk's output:\n{output}")
    latency = {
        f"p{pct}": round(float(value) * UNITS_MS[unit], 3)
        for pct, value, unit in re.findall(r"^\s+(\d+)%\s+([\d.]+)(us|ms|s|m)\s*$", output, re.M)
    }
    if set(latency) != {"p50", "p75", "p90", "p99"}:
        raise BenchError(f"wrk printed no latency distribution:\n{output}")
    report = json.loads(marker[1])
    latency["p95"] = round(report["latency_us"]["p95"] / 1000, 3)
    return {"requests_per_s": float(rate[1]), "latency_ms": dict(sorted(latency.items())),
            "requests": report["requests"], "errors": report["errors"], "lua": report}


def run_wrk(url: str, duration: str, cookie: str | None = None) -> dict[str, Any]:
    # A 10 s timeout, so a slow staff page is measured rather than dropped as errors.
    command = ["wrk", f"-t{WRK_THREADS}", f"-c{WRK_CONNECTIONS}", f"-d{duration}", "--latency",
               "--timeout", "10s", "-s", str(HERE / "report.lua"), url]
    if cookie:
        command[1:1] = ["-H", f"Cookie: {cookie}"]
    done = subprocess.run(command, capture_output=True, text=True, check=False,
                          timeout=seconds(duration) + 60)
    if done.returncode != 0:
        raise BenchError(f"wrk failed ({done.returncode}):\n{done.stdout}{done.stderr}")
    return parse_wrk(done.stdout)


def hello_beside(bare: str) -> float:
    """Load the bare app's hello at ``bare`` for ``BESIDE``: the ratio's denominator for the
    scenario that follows it."""
    return float(run_wrk(bare + "/", BESIDE)["requests_per_s"])


def environments(workdir: Path, postgres: str | None) -> dict[str, dict[str, str]]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("KAIMEN_")}
    database = f"sqlite:///{workdir / 'bench.db'}"
    audit_key = secrets.token_hex(32)  # one chain key for the set-up and the server
    setup = base | {"KAIMEN_DATABASE_URL": database, "KAIMEN_DEBUG": "1",
                    "KAIMEN_AUDIT_KEY": audit_key,
                    "KAIMEN_DEMO_PASSWORD": os.environ.get("KAIMEN_DEMO_PASSWORD")
                    or secrets.token_urlsafe(12)}
    kaimen = base | {"KAIMEN_DATABASE_URL": database, "KAIMEN_SECRET_KEY": secrets.token_hex(32),
                     "KAIMEN_AUDIT_KEY": audit_key}
    envs = {"setup": setup, "kaimen": kaimen, "bare": base}
    if postgres:
        envs["setup-pg"] = setup | {"KAIMEN_DATABASE_URL": postgres}
        envs["kaimen-pg"] = kaimen | {"KAIMEN_DATABASE_URL": postgres}
    return envs


def psql(admin_url: str, sql: str) -> None:
    """Run one statement on the PostgreSQL server as its admin user."""
    done = subprocess.run(["psql", admin_url, "-v", "ON_ERROR_STOP=1", "-qc", sql],
                          capture_output=True, text=True, timeout=60, check=False)
    if done.returncode != 0:
        raise BenchError(f"psql failed: {done.stderr.strip()}")


@contextmanager
def postgres_database() -> Iterator[str | None]:
    """Yield the URL of a fresh database owned by the app role, and drop it afterwards."""
    if not POSTGRES_ADMIN_URL:
        yield None
        return
    if shutil.which("psql") is None:
        raise BenchError("BENCH_POSTGRES_URL is set but psql is not installed")
    name = f"kaimen_bench_{secrets.token_hex(4)}"
    psql(POSTGRES_ADMIN_URL, f"DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = "
                             f"'{APP_ROLE}') THEN CREATE ROLE {APP_ROLE} LOGIN; END IF; END $$")
    psql(POSTGRES_ADMIN_URL, f'CREATE DATABASE "{name}" OWNER {APP_ROLE}')
    url = make_url(POSTGRES_ADMIN_URL).set(
        drivername="postgresql+psycopg", username=APP_ROLE, password=None, database=name
    )
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        psql(POSTGRES_ADMIN_URL, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def run_all(workdir: Path, duration: str,
            postgres: str | None) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    envs = environments(workdir, postgres)
    say("Building the demo database…")
    figures = build_database(workdir, envs["setup"])
    if postgres:
        say("Building the demo database on PostgreSQL…")
        build_database(workdir, envs["setup-pg"])
    results = []
    with serve(SERVERS[BASELINE], envs["bare"], workdir) as bare:
        run_wrk(bare + "/", WARMUP)
        for name, server in SERVERS.items():
            scenarios = [s for s in SCENARIOS if s.server == name]
            if not scenarios:
                continue
            env = envs[name] if name in envs else envs["kaimen" if server.kaimen else "bare"]
            with serve(server, env, workdir) as base:
                for scenario in scenarios:
                    url = base + scenario.path
                    cookie = (session_cookie(base, scenario.user,
                                             envs["setup"]["KAIMEN_DEMO_PASSWORD"])
                              if scenario.user else None)
                    check_status(url, scenario.status, cookie)
                    say(f"Loading {scenario.name} ({scenario.path}) for {duration}…")
                    run_wrk(url, WARMUP, cookie)  # let every worker import, compile and connect
                    beside = hello_beside(bare)
                    result = run_wrk(url, duration, cookie)
                    results.append({"scenario": scenario.name, "server": name,
                                    "path": scenario.path, "bare_beside_per_s": beside,
                                    "ratio_to_bare": round(result["requests_per_s"] / beside, 3)}
                                   | result)
    return results, figures


def context(duration: str) -> dict[str, Any]:
    gunicorn = subprocess.run([str(BIN / "gunicorn"), "--version"], capture_output=True,
                              text=True, check=False).stdout
    version = re.search(r"[\d.]+\d", gunicorn)
    wrk = subprocess.run(["wrk", "--version"], capture_output=True, text=True, check=False)
    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "gunicorn": f"gunicorn {version[0] if version else '?'}",
        "gunicorn_settings": " ".join(GUNICORN[:6]),
        "wrk": (wrk.stdout + wrk.stderr).split(" [")[0].strip(),
        "wrk_settings": f"-t{WRK_THREADS} -c{WRK_CONNECTIONS} -d{duration} --latency",
        "database": "SQLite" + (" and PostgreSQL" if POSTGRES_ADMIN_URL else ""),
    }


def table(results: list[dict[str, Any]], about: dict[str, Any], figures: dict[str, Any]) -> str:
    lines = [
        f"{about['date']} · {about['cores']} cores · Python {about['python']} · "
        f"{about['gunicorn']} `{about['gunicorn_settings']}` · wrk `{about['wrk_settings']}` · "
        f"{about['database']}; wrk runs on the same machine.",
        "",
        "| scenario | req/s | p50 ms | p95 ms | p99 ms | bare hello just before, req/s "
        "| ratio to bare |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        ms = r["latency_ms"]
        lines.append(f"| {r['scenario']} (`{r['path']}`) | {r['requests_per_s']:.0f} | "
                     f"{ms['p50']:.1f} | {ms['p95']:.1f} | {ms['p99']:.1f} | "
                     f"{r['bare_beside_per_s']:.0f} | {r['ratio_to_bare']:.2f} |")
    if "roster_import_s" in figures:
        lines.append(f"\nA roster of {figures['students']:,} students imported from one CSV file "
                     f"in one transaction: {figures['roster_import_s']:.1f} s.")
    failed = [r for r in results if sum(r["errors"].values())]
    for r in failed:
        lines.append(f"\n**{r['scenario']}: errors during the run: {r['errors']}**")
    return "\n".join(lines)


def update_readme(text: str, start_marker: str = START, end_marker: str = END) -> bool:
    """Put ``text`` into README.md between the two markers; False when they are missing."""
    if not README.exists():
        return False
    content = README.read_text(encoding="utf-8")
    start, end = content.find(start_marker), content.find(end_marker)
    if start < 0 or end < start:
        return False
    README.write_text(content[: start + len(start_marker)] + "\n" + text + "\n"
                      + content[end:], encoding="utf-8")
    return True


def main() -> int:
    if shutil.which("wrk") is None:
        say("The benchmark needs wrk, which is not installed (nothing here installs it):\n"
            "  Debian/Ubuntu: sudo apt-get install -y wrk    macOS: brew install wrk")
        return 2
    duration = DURATION
    try:
        seconds(duration)
        with tempfile.TemporaryDirectory(prefix="kaimen-bench-") as tmp, \
                postgres_database() as postgres:
            results, figures = run_all(Path(tmp), duration, postgres)
    except BenchError as error:
        say(f"Benchmark failed: {error}")
        return 1
    about = context(duration)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({"context": about, "results": results, "figures": figures},
                                  indent=2,
                                  ensure_ascii=False) + "\n", encoding="utf-8")
    text = table(results, about, figures)
    say()
    say(text)
    say()
    say(f"Results written to {RESULTS.relative_to(ROOT)}"
        + ("; README.md updated." if update_readme(text) else "."))
    return 1 if any(sum(r["errors"].values()) for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
