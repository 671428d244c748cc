"""File complaints under load while killing the server, then count what was kept (``make soak``).

For SQLite, and PostgreSQL when ``BENCH_POSTGRES_URL`` names an admin URL, this builds a
throw-away database with the demo county's schools, serves it with gunicorn on 127.0.0.1
(run.py's helpers, the same settings as ``make bench``) and runs three phases:

- ``steady``: clients only;
- ``worker killed``: one gunicorn worker gets ``kill -9`` part-way through;
- ``full restart``: the master and its workers get ``kill -9`` and gunicorn starts again.

Each client behaves as a parent's browser: it opens a school's complaint form, sends it
anonymously as multipart/form-data with every field the form carries (the CSRF token and
the one-time receipt token among them) and reads the receipt code off the answer. When the
connection fails it sends the very same form again, as a parent pressing "resend" would;
the receipt token makes that file once. One submission in five is a double click (the form
sent twice at once, the second answer shown). Afterwards the database is read through the app:
every code a client saw must lead to the complaint it sent, once.

Prints a Markdown table (also into README.md between ``<!-- soak:start -->`` and
``<!-- soak:end -->`` unless ``--no-readme``) and, last, a ``SOAK_JSON`` line for tests.
Bounded: ``--seconds`` of load per phase (default 6), ``--clients`` (default 16).
"""

from __future__ import annotations

import argparse
import html
import http.client
import http.cookiejar
import json
import os
import platform
import random
import re
import secrets
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from html.parser import HTMLParser
from importlib import metadata
from pathlib import Path
from typing import Any

import run as bench

START, END = "<!-- soak:start -->", "<!-- soak:end -->"
SCHOOL = "shiyan-xiaoxue"
FORM_PATH = f"/s/{SCHOOL}/complaints/"
PHASES = ("steady", "worker killed", "full restart")
FAULT_AT = 0.4  # of the phase's load time
DRAIN_SECONDS = 30.0  # after the load stops, how long a client may finish its submission
CLIENT_TIMEOUT = 60.0  # a browser waits minutes; a booting server may take a while
POST_5XX_RETRIES = 3
DOUBLE_CLICK_EVERY = 5  # one submission in five (across clients) is sent twice at once
# The box's own per-address and per-school limits would refuse most of this load from one
# address; they stay on (the limiter runs on every POST), set high enough not to refuse.
LIMITS = {"KAIMEN_COMPLAINTS_CLIENT_LIMIT": "100000 per minute",
          "KAIMEN_COMPLAINTS_SCHOOL_LIMIT": "100000 per hour"}
CODE = re.compile(r'class="receipt-code">(.*?)</p>', re.S)
BEGAN = time.monotonic()


def say(text: str) -> None:
    bench.say(f"[{time.monotonic() - BEGAN:5.1f} s] {text}")


class FormFields(HTMLParser):
    """The fields a browser would send from the page's multipart form, in document order."""

    def __init__(self) -> None:
        super().__init__()
        self.fields: list[tuple[str, str, bool]] = []  # (name, value, is a file)
        self._in_form = False
        self._textarea: tuple[str, list[str]] | None = None
        self._select: str | None = None
        self._options: list[tuple[str, bool]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form":
            self._in_form = a.get("enctype") == "multipart/form-data"
        if not self._in_form or "name" not in a and tag in ("input", "textarea", "select"):
            return
        if tag == "input":
            kind = a.get("type", "text")
            if kind in ("radio", "checkbox") and "checked" not in a:
                return
            if kind in ("submit", "button", "reset"):
                return
            self.fields.append((a["name"], a.get("value", "on" if kind == "checkbox" else ""),
                                kind == "file"))
        elif tag == "textarea":
            self._textarea = (a["name"], [])
        elif tag == "select":
            self._select, self._options = a["name"], []
        elif tag == "option" and self._select is not None:
            self._options.append((a.get("value", ""), "selected" in a))

    def handle_data(self, data: str) -> None:
        if self._textarea is not None:
            self._textarea[1].append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._in_form = False
        elif tag == "textarea" and self._textarea is not None:
            self.fields.append((self._textarea[0], "".join(self._textarea[1]), False))
            self._textarea = None
        elif tag == "select" and self._select is not None:
            chosen = [v for v, selected in self._options if selected] or [
                v for v, _ in self._options[:1]]
            self.fields.append((self._select, chosen[0] if chosen else "", False))
            self._select = None


def multipart(fields: list[tuple[str, str, bool]]) -> tuple[bytes, str]:
    """Encode ``fields`` as a browser does; a file input with nothing chosen is an empty part."""
    boundary = "----soak" + secrets.token_hex(12)
    parts = []
    for name, value, is_file in fields:
        if is_file:
            parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; '
                         f'filename=""\r\nContent-Type: application/octet-stream\r\n\r\n\r\n')
        else:
            parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"'
                         f"\r\n\r\n{value}\r\n")
    body = ("".join(parts) + f"--{boundary}--\r\n").encode()
    return body, f"multipart/form-data; boundary={boundary}"


def failure(error: BaseException) -> str:
    """Name a failed request: refused (nothing listens), dropped (the server died on it)."""
    reason = error.reason if isinstance(error, urllib.error.URLError) else error
    if isinstance(reason, ConnectionRefusedError):
        return "refused"
    if isinstance(reason, (ConnectionError, http.client.HTTPException)):
        return "dropped"
    if isinstance(reason, TimeoutError):
        return "timeout"
    return f"other: {type(reason).__name__}"


@dataclass
class Tally:
    """What the clients of one phase did and saw."""

    requests: int = 0
    hard_stop: float = 0.0  # when clients give up a submission (moved once the load stops)
    errors: Counter = field(default_factory=Counter)  # refused, dropped, 500, other kinds
    submissions: list[dict[str, Any]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def count(self, what: str | None = None) -> None:
        with self.lock:
            self.requests += 1
            if what:
                self.errors[what] += 1


class Client(threading.Thread):
    """One parent after another at the same browser: form, send (again if need be), receipt."""

    def __init__(self, number: int, base: str, phase: str, tally: Tally,
                 stop: threading.Event, path: str = FORM_PATH) -> None:
        super().__init__(daemon=True)
        self.number, self.base, self.phase, self.tally = number, base, phase, tally
        self.stop, self.path = stop, path
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))

    def request(self, data: bytes | None = None,
                content_type: str = "") -> tuple[int, str] | None:
        """One request; its status and page, or None when the connection failed."""
        headers = {"Content-Type": content_type} if data is not None else {}
        request = urllib.request.Request(self.base + self.path, data=data, headers=headers)
        try:
            timeout = max(1.0, min(CLIENT_TIMEOUT, self.tally.hard_stop - time.monotonic()))
            with self.opener.open(request, timeout=timeout) as response:
                page = response.read().decode()
                status = response.status
        except urllib.error.HTTPError as error:
            status, page = error.code, error.read().decode(errors="replace")
        except (OSError, http.client.HTTPException) as error:
            self.tally.count(failure(error))
            return None
        self.tally.count("500" if status == 500 else None if status < 400 else str(status))
        return status, page

    def pause(self) -> None:
        time.sleep(0.05 + random.random() * 0.15)

    def run(self) -> None:
        sequence = 0
        while not self.stop.is_set():
            sequence += 1
            subject = f"soak {self.phase} c{self.number:02d} n{sequence} {secrets.token_hex(3)}"
            double = (self.number + sequence) % DOUBLE_CLICK_EVERY == 0
            self.tally.submissions.append(self.submit(subject, double))

    def submit(self, subject: str, double: bool = False) -> dict[str, Any]:
        """File one complaint; with ``double``, the first send is a double click: sent twice
        at once, the browser showing the second answer."""
        record: dict[str, Any] = {"phase": self.phase, "subject": subject, "code": None,
                                  "sends": 0, "double": double, "outcome": "gave up"}
        page = None
        while page is None and time.monotonic() < self.tally.hard_stop:
            answer = self.request()
            if answer is None:
                self.pause()
            elif answer[0] != 200:
                record["outcome"] = f"form answered {answer[0]}"
                return record
            else:
                page = answer[1]
        if page is None:
            return record
        parser = FormFields()
        parser.feed(page)
        values = {"kind": "complaint", "category": "teaching", "identity": "anonymous",
                  "subject": subject,
                  "description": f"Load and fault test: {subject}. 压力与故障测试。"}
        fields = [(n, values.get(n, v), f) for n, v, f in parser.fields]
        fields += [(n, v, False) for n, v in values.items() if n not in {f[0] for f in fields}]
        body, content_type = multipart(fields)
        if double:
            first = threading.Thread(target=self.request, args=(body, content_type), daemon=True)
            first.start()
            record["sends"] += 1
        server_errors = 0
        while time.monotonic() < self.tally.hard_stop:
            record["sends"] += 1
            answer = self.request(body, content_type)
            if answer is None:
                self.pause()  # the same form again, token and all
                continue
            status, page = answer
            if status == 500 and server_errors < POST_5XX_RETRIES:
                server_errors += 1
                continue
            found = CODE.search(page) if status == 200 else None
            if found is None:
                record["outcome"] = f"answered {status} without a receipt"
                return record
            record["code"] = re.sub(r"<[^>]+>", "", found[1]).strip()
            shown = html.escape(subject) in page
            record["outcome"] = "receipt" if shown else "receipt of another submission"
            return record
        return record


@dataclass(eq=False)
class Server:
    """The gunicorn serving one database, which a phase may kill and start again."""

    spec: bench.Server
    env: dict[str, str]
    workdir: Path
    process: subprocess.Popen | None = None
    base: str = ""
    log: Path | None = None

    def start(self, port: int | None = None) -> None:
        self.process, self.base, self.log = bench.start(self.spec, self.env, self.workdir, port)
        LIVE.add(self)

    def wait_up(self) -> None:
        assert self.process is not None
        assert self.log is not None
        bench.wait_until_up(self.process, self.base + "/healthz", self.log)

    def workers(self) -> list[int]:
        assert self.process is not None
        pid = self.process.pid
        children = Path(f"/proc/{pid}/task/{pid}/children")
        if children.exists():
            return [int(p) for p in children.read_text().split()]
        done = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True,
                              check=False)
        return [int(p) for p in done.stdout.split()]

    def kill_worker(self) -> str:
        workers = self.workers()
        if not workers:
            raise bench.BenchError("gunicorn has no worker to kill")
        victim = random.choice(workers)
        os.kill(victim, signal.SIGKILL)
        return f"kill -9 of worker {victim}"

    def restart(self) -> str:
        """kill -9 the master and its workers (its own process group), start it again."""
        assert self.process is not None
        port = int(self.base.rsplit(":", 1)[1])
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)
        killed = time.monotonic()
        self.start(port)
        self.wait_up()
        return f"kill -9 of the master and workers; answering again after " \
               f"{time.monotonic() - killed:.1f} s"

    def stop(self) -> None:
        if self.process is not None:
            bench.stop(self.process)
        LIVE.discard(self)

    def kill(self) -> None:
        """Stop at once whatever this server left running (on SIGTERM or an error)."""
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)


LIVE: set[Server] = set()  # the servers to kill if the run itself is stopped


def run_phase(server: Server, phase: str, clients: int, load_seconds: float) -> dict[str, Any]:
    tally, stop = Tally(), threading.Event()
    started = time.monotonic()
    # Until the load stops, as long as a restart may take (wait_until_up's limit and more).
    tally.hard_stop = started + load_seconds + 90
    threads = [Client(n + 1, server.base, phase, tally, stop) for n in range(clients)]
    for thread in threads:
        thread.start()
    fault, until = "", started + load_seconds
    if phase != "steady":
        time.sleep(load_seconds * FAULT_AT)
        fault = server.kill_worker() if phase == "worker killed" else server.restart()
        # After a restart, as much load again as there was after the fault.
        until = max(until, time.monotonic() + load_seconds * (1 - FAULT_AT))
    time.sleep(max(0.0, until - time.monotonic()))
    tally.hard_stop = time.monotonic() + DRAIN_SECONDS
    stop.set()
    for thread in threads:
        thread.join(timeout=DRAIN_SECONDS + CLIENT_TIMEOUT)
    return {"phase": phase, "clients": clients, "seconds": round(time.monotonic() - started, 1),
            "fault": fault, "requests": tally.requests, "errors": dict(tally.errors),
            "submissions": tally.submissions}


IN_PROCESS = threading.Lock()  # one app at a time in this process


def app_for(env: dict[str, str], **settings: Any) -> Any:
    """The app on ``env``'s database with its keys, in this process (no interpreter to start:
    on a busy machine that is what takes the time)."""
    from kaimen import create_app

    return create_app({"DATABASE_URL": env["KAIMEN_DATABASE_URL"],
                       "SECRET_KEY": env.get("KAIMEN_SECRET_KEY") or secrets.token_hex(32),
                       "AUDIT_KEY": env["KAIMEN_AUDIT_KEY"], **settings})


def build_database(name: str, setup: dict[str, str]) -> None:
    """Migrate a fresh database and load the demo county's bureau, schools and users, with
    the same commands as ``make demo``."""
    say(f"{name}: building the database (the demo county's schools and users)…")
    with IN_PROCESS:
        # Nobody logs in here: the demo users' passwords may hash cheaply.
        app = app_for(setup, PASSWORD_METHOD="pbkdf2:sha256:1000")
        runner = app.test_cli_runner()
        for command in (["db", "upgrade"],
                        ["kaimen", "tenants", "load", str(bench.ROOT / "tenants" / "jiayu.toml")]):
            done = runner.invoke(args=command)
            if done.exit_code != 0:
                raise bench.BenchError(f"{name}: flask {' '.join(command)} failed:\n"
                                       f"{done.output}{done.exception!r}")
        dispose(app)


def dispose(app: Any) -> None:
    from kaimen.extensions import db

    with app.app_context():
        db.session.remove()
        db.engine.dispose()


def read_back(env: dict[str, str], submissions: list[dict[str, Any]],
              phases: tuple[str, ...] = PHASES) -> dict[str, dict[str, int]]:
    """Count what each phase stored, through the app with the servers' keys: every code a
    client saw must lead to the complaint that client sent, and each complaint be there once.
    """
    import sqlalchemy as sa

    from blueprints.complaints.blueprint import NAME
    from blueprints.complaints.models import Complaint, with_leadership
    from kaimen import receipts, tenancy
    from kaimen.extensions import db

    figures: dict[str, dict[str, int]] = {}
    with IN_PROCESS:
        app = app_for(env)
        with app.app_context(), tenancy.system_scope():
            rows = db.session.execute(with_leadership(
                sa.select(Complaint.id, Complaint.subject).where(Complaint.subject.like("soak %"))
            )).all()
            receipt_rows = Counter(db.session.scalars(sa.select(receipts.Receipt.object_id).where(
                receipts.Receipt.plugin == NAME,
                receipts.Receipt.object_id.in_([r.id for r in rows]))))
            by_subject: dict[str, list[int]] = {}
            for row in rows:
                by_subject.setdefault(row.subject, []).append(row.id)
            for phase in phases:
                seen = [s for s in submissions if s["phase"] == phase and s["code"]]
                stored = {k: v for k, v in by_subject.items() if k.startswith(f"soak {phase} c")}
                lost = 0
                for submission in seen:
                    receipt = receipts.lookup(submission["code"])
                    ids = stored.get(submission["subject"], [])
                    if receipt is None or receipt.plugin != NAME or receipt.object_id not in ids:
                        lost += 1
                seen_subjects = {s["subject"] for s in seen}
                figures[phase] = {
                    "receipts": len(seen),
                    "rows": sum(len(ids) for ids in stored.values()),
                    "lost": lost,
                    "duplicated": sum(len(ids) - 1 for ids in stored.values()),
                    "rows_without_receipt_row": sum(
                        1 for ids in stored.values() for i in ids if receipt_rows[i] != 1),
                    "rows_never_confirmed": sum(1 for k in stored if k not in seen_subjects),
                }
        dispose(app)
    return figures


def soak_database(name: str, setup: dict[str, str], env: dict[str, str], workdir: Path,
                  clients: int, load_seconds: float) -> dict[str, Any]:
    """Build one database, serve it, run the phases on it and read back what it stored."""
    build_database(name, setup)
    server = Server(bench.Server(name, "kaimen:create_app()", kaimen=True), env | LIMITS, workdir)
    server.start()
    try:
        server.wait_up()
        say(f"{name}: gunicorn answers on {server.base}")
        phases = []
        for phase in PHASES:
            say(f"{name}: {phase}, {clients} clients for {load_seconds:g} s…")
            phases.append(run_phase(server, phase, clients, load_seconds))
    finally:
        server.stop()
    assert server.log is not None
    log = server.log.read_text(errors="replace")
    say(f"{name}: reading back what was stored…")
    stored = read_back(env, [s for p in phases for s in p["submissions"]])
    for phase in phases:
        submissions = phase.pop("submissions")
        phase |= stored[phase["phase"]]
        phase["outcomes"] = dict(Counter(s["outcome"] for s in submissions))
        phase["double_clicks"] = sum(1 for s in submissions if s["double"])
    return {"database": name, "phases": phases,
            "tracebacks": log.count("Traceback (most recent call last)")}


def side_by_side(jobs: list[Any]) -> list[dict[str, Any]]:
    """Run each job (a function of no arguments) in its own thread; their results in order."""
    results: list[Any] = [None] * len(jobs)

    def one(index: int) -> None:
        try:
            results[index] = jobs[index]()
        except BaseException as error:  # noqa: BLE001 - raised again in the caller's thread
            results[index] = error

    threads = [threading.Thread(target=one, args=(i,), daemon=True) for i in range(len(jobs))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for result in results:
        if isinstance(result, BaseException):
            raise result
    return results


def context() -> dict[str, Any]:
    return {"date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"), "cores": os.cpu_count(),
            "load_average": round(os.getloadavg()[1], 1),
            "python": platform.python_version(),
            "gunicorn": f"gunicorn {metadata.version('gunicorn')}",
            "gunicorn_settings": " ".join(bench.GUNICORN[:6])}


def table(results: list[dict[str, Any]], about: dict[str, Any], clients: int,
          load_seconds: float) -> str:
    lines = [
        f"{about['date']} · {about['cores']} cores, load average {about['load_average']} · "
        f"Python {about['python']} · "
        f"{about['gunicorn']} `{about['gunicorn_settings']}` · {clients} clients, "
        f"{load_seconds:g} s of load per phase, both databases side by side; one run of "
        f"{about['wall_seconds']} s, clients on the same machine.",
        "",
        "| database | phase | clients | requests | receipts seen | rows stored | lost | "
        "duplicated | 500s | refused (restart) | dropped (killed) | other errors |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    notes = []
    for result in results:
        if result.get("not_run"):
            for phase in PHASES:
                lines.append(f"| {result['database']} | {phase} | not run: "
                             f"{result['not_run']} | | | | | | | | | |")
            continue
        for p in result["phases"]:
            errors = Counter(p["errors"])
            other = sum(v for k, v in errors.items() if k not in ("500", "refused", "dropped"))
            lines.append(
                f"| {result['database']} | {p['phase']} | {p['clients']} | {p['requests']} | "
                f"{p['receipts']} | {p['rows']} | {p['lost']} | {p['duplicated']} | "
                f"{errors['500']} | {errors['refused']} | {errors['dropped']} | {other} |")
            if p["fault"]:
                notes.append(f"{result['database']}, {p['phase']}: {p['fault']}.")
            if other:
                kinds = ", ".join(f"{k} × {v}" for k, v in sorted(errors.items())
                                  if k not in ("500", "refused", "dropped"))
                notes.append(f"{result['database']}, {p['phase']}: other errors: {kinds}.")
            odd = {k: v for k, v in p["outcomes"].items() if k != "receipt"}
            if odd or p["rows_without_receipt_row"] or p["rows_never_confirmed"]:
                notes.append(f"**{result['database']}, {p['phase']}: submissions without a "
                             f"receipt {odd}, rows never confirmed to a client "
                             f"{p['rows_never_confirmed']}, rows without one receipt row "
                             f"{p['rows_without_receipt_row']}.**")
        notes.append(f"{result['database']}: double clicks (one form sent twice at once) "
                     + ", ".join(f"{p['double_clicks']} {p['phase']}" for p in result["phases"])
                     + ".")
        if result["tracebacks"]:
            notes.append(f"**{result['database']}: {result['tracebacks']} tracebacks in the "
                         f"gunicorn log.**")
    return "\n".join(lines + [""] + [f"- {note}" for note in notes])


def failed(results: list[dict[str, Any]]) -> bool:
    for result in results:
        for p in result.get("phases", []):
            if p["lost"] or p["duplicated"] or p["errors"].get("500") or \
                    p["rows"] != p["receipts"] or p["rows_without_receipt_row"]:
                return True
    return False


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=6.0, help="load per phase")
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--no-readme", action="store_true", help="leave README.md alone")
    args = parser.parse_args()
    # Stopped from outside (a test's timeout), still take the servers down.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    results: list[dict[str, Any]] = []
    try:
        with tempfile.TemporaryDirectory(prefix="kaimen-soak-") as tmp, \
                bench.postgres_database() as postgres:
            workdir = Path(tmp)
            envs = bench.environments(workdir, postgres)
            # Both databases at once: on a busy machine the server starts, not the load,
            # take the time, and the two runs share nothing but the machine.
            jobs = [partial(soak_database, "SQLite", envs["setup"], envs["kaimen"], workdir,
                            args.clients, args.seconds)]
            if postgres:
                jobs.append(partial(soak_database, "PostgreSQL", envs["setup-pg"],
                                    envs["kaimen-pg"], workdir, args.clients, args.seconds))
            try:
                results = side_by_side(jobs)
            finally:
                for server in list(LIVE):
                    server.kill()
            if not postgres:
                results.append({"database": "PostgreSQL",
                                "not_run": "set BENCH_POSTGRES_URL to an admin URL"})
            say("Done.")
    except bench.BenchError as error:
        bench.say(f"Soak failed: {error}")
        return 1
    about = context() | {"wall_seconds": round(time.monotonic() - BEGAN)}
    text = table(results, about, args.clients, args.seconds)
    bench.say()
    bench.say(text)
    bench.say()
    if not args.no_readme:
        bench.say("README.md updated." if bench.update_readme(text, START, END)
                  else "README.md has no soak markers: not updated.")
    bench.say("SOAK_JSON " + json.dumps({"about": about, "results": results}))
    return 1 if failed(results) else 0


if __name__ == "__main__":
    sys.exit(main())
