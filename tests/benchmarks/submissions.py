"""Parents filing opinions on PostgreSQL (issue 14, item 3): throughput and the audit lock.

Scenarios against the demo county on a fresh PostgreSQL database (``BENCH_POSTGRES_URL``, an
admin URL, as for ``make bench``). The filers are wrk connections running ``submit.lua``:
each opens a school's form, sends a new opinion with the page's session cookie, CSRF token
and one-time token as a browser does (multipart), and reads the receipt off the answer.

1. **16 filers, one school**, gunicorn as in ``run.py`` (2 sync workers): requests (forms
   and opinions) per second, as a ratio to bare Flask "hello" under wrk just before it.
2. **The same 16 filers against a bare Flask form**: the same page's bytes, a POST parsed
   and answered with a receipt, no database. What this machine, gunicorn, Flask and the
   load itself allow at most; Kaimen's ratio is to be read against it.
3. **64 filers across 20 schools of one bureau**, gunicorn with 2 workers of 16 threads, so
   that up to 32 submissions are in the database at once. Every write appends to its
   school's audit chain (one per school since 0018; one per bureau before) and locks that
   chain's ``audit_head`` row for its commit. A sampler reads ``pg_stat_activity`` every
   20 ms: how often a backend of the app was waiting on a lock, against how often one was
   active, and which statements waited. If a lock were the limit, most active backends
   would be waiting on it.

Each receipt a filer was shown must lead to its complaint, stored once (``soak.read_back``);
an opinion still in flight when the load stops may be stored without its receipt being
read, and is counted apart. Writes the table into README.md between its markers unless
``--no-readme``; prints a ``SUBMISSIONS_JSON`` line last.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
import threading
import time
import tomllib
import urllib.request
from pathlib import Path
from typing import Any

import run as bench
import soak
from sqlalchemy import create_engine, text

MARKERS = ("<!-- submissions:start -->", "<!-- submissions:end -->")
SCRIPT = bench.HERE / "submit.lua"
EXTRA_SCHOOLS = 7  # the demo county has 13 schools; the lock scenario wants 20
SAMPLE_EVERY = 0.02


def demo_schools() -> list[str]:
    tenants = tomllib.loads((bench.ROOT / "tenants" / "jiayu.toml").read_text(encoding="utf-8"))
    return [school["slug"] for school in tenants["school"] if school.get("bureau") == "jiayu"]


def add_schools(setup: dict[str, str], workdir: Path) -> list[str]:
    """Load ``EXTRA_SCHOOLS`` more schools into the demo bureau (a tenants file of their own)."""
    slugs = [f"bench-school-{n:02d}" for n in range(1, EXTRA_SCHOOLS + 1)]
    path = workdir / "more-schools.toml"
    path.write_text("".join(
        f'[[school]]\nslug = "{slug}"\nbureau = "jiayu"\nname = "测试学校{n}"\n\n'
        for n, slug in enumerate(slugs, 1)), encoding="utf-8")
    with soak.IN_PROCESS:
        app = soak.app_for(setup, PASSWORD_METHOD="pbkdf2:sha256:1000")
        done = app.test_cli_runner().invoke(args=["kaimen", "tenants", "load", str(path)])
        soak.dispose(app)
    if done.exit_code != 0:
        raise bench.BenchError(f"loading the extra schools failed:\n{done.output}")
    return slugs


class LockSampler(threading.Thread):
    """Count, every 20 ms, the app's backends that are active and those waiting on a lock."""

    def __init__(self, admin_url: str, database: str) -> None:
        super().__init__(daemon=True)
        self.engine = create_engine(admin_url.replace("postgresql://", "postgresql+psycopg://",
                                                      1))
        self.database = database
        self.stop = threading.Event()
        self.samples = self.active = self.waiting = self.samples_waiting = 0
        self.by_event: dict[str, int] = {}
        self.by_statement: dict[str, int] = {}  # what the waiting backends were running

    def run(self) -> None:
        query = text("SELECT state, wait_event_type, wait_event, "
                     "left(regexp_replace(query, '\\s+', ' ', 'g'), 60) AS statement "
                     "FROM pg_stat_activity "
                     "WHERE datname = :db AND pid <> pg_backend_pid() AND state = 'active'")
        with self.engine.connect() as connection:
            while not self.stop.is_set():
                rows = connection.execute(query, {"db": self.database}).all()
                connection.rollback()
                waiting = [r for r in rows if r.wait_event_type == "Lock"]
                self.samples += 1
                self.active += len(rows)
                self.waiting += len(waiting)
                self.samples_waiting += bool(waiting)
                for row in waiting:
                    self.by_event[row.wait_event] = self.by_event.get(row.wait_event, 0) + 1
                    self.by_statement[row.statement] = self.by_statement.get(row.statement, 0) + 1
                time.sleep(SAMPLE_EVERY)
        self.engine.dispose()

    def figures(self) -> dict[str, Any]:
        return {"samples": self.samples,
                "mean_active": round(self.active / max(self.samples, 1), 2),
                "mean_waiting_on_lock": round(self.waiting / max(self.samples, 1), 2),
                "share_of_samples_with_a_lock_wait": round(
                    self.samples_waiting / max(self.samples, 1), 3),
                "lock_events": self.by_event,
                "waiting_statements": dict(sorted(self.by_statement.items(),
                                                  key=lambda item: -item[1])[:3])}


def load(base: str, phase: str, paths: list[str], filers: int, seconds: float,
         workdir: Path) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Run ``filers`` wrk connections filing opinions through ``paths`` (``submit.lua``) for
    ``seconds``; return the receipts they were shown and the figures.

    The load comes from wrk, as the bare app's does: a client in Python (urllib and an HTML
    parser, one interpreter for all filers) made at most 0.12 of bare Flask's "hello" here
    against a Flask form that does nothing, so it measured itself more than the server.
    """
    prefix = workdir / f"receipts-{phase.replace(' ', '-')}-"
    command = ["wrk", f"-t{bench.WRK_THREADS}", f"-c{filers}", f"-d{seconds:g}s", "--latency",
               "--timeout", "10s", "-s", str(SCRIPT), base, "--", str(prefix), phase, *paths]
    done = subprocess.run(command, capture_output=True, text=True, check=False,
                          timeout=seconds + 60)
    if done.returncode != 0:
        raise bench.BenchError(f"wrk failed ({done.returncode}):\n{done.stdout}{done.stderr}")
    figures = bench.parse_wrk(done.stdout)
    counts = re.search(r"^SUBMIT_JSON (.+)$", done.stdout, re.M)
    if counts is None:
        raise bench.BenchError(f"submit.lua printed no counts:\n{done.stdout}{done.stderr}")
    shown = json.loads(counts[1])
    submissions = []
    for path in sorted(workdir.glob(prefix.name + "*.tsv")):
        for line in path.read_text(encoding="utf-8").splitlines():
            subject, code = line.split("\t")
            submissions.append({"phase": phase, "subject": subject, "code": code})
    if len(submissions) != shown["receipts"]:
        raise bench.BenchError(f"{shown['receipts']} receipts shown, {len(submissions)} written")
    errors = {kind: n for kind, n in figures["errors"].items() if n}
    if shown["unexpected"]:
        errors["not a form or a receipt"] = shown["unexpected"]
    return submissions, {"phase": phase, "filers": filers, "requests": figures["requests"],
                         "forms": shown["forms"], "receipts_shown": shown["receipts"],
                         "requests_per_s": figures["requests_per_s"],
                         "receipts_per_s": round(shown["receipts"] / seconds, 1),
                         "latency_ms": figures["latency_ms"], "errors": errors}


def warm_up(base: str, paths: list[str], filers: int, workdir: Path) -> None:
    """File for a moment first, as ``run.py`` warms each page up: a worker's first requests
    import and compile what it serves, and the first form of each school is rendered."""
    load(base, "warm-up", paths, filers, bench.seconds(bench.WARMUP), workdir)


def measure(workdir: Path, postgres: str, seconds: float) -> dict[str, Any]:
    envs = bench.environments(workdir, postgres)
    soak.build_database("PostgreSQL", envs["setup-pg"])
    schools = (demo_schools() + add_schools(envs["setup-pg"], workdir))[:20]
    env = envs["kaimen-pg"] | soak.LIMITS
    server = bench.Server("kaimen-pg", "kaimen:create_app()", kaimen=True)
    results: dict[str, Any] = {}
    submissions: list[dict[str, Any]] = []
    form_path = f"/s/{schools[0]}/complaints/"

    # The bare app, served all along: its hello before each scenario, for the ratio, and the
    # form Kaimen serves first (its page is written to the file once Kaimen has served it).
    form_page = workdir / "form.html"
    with bench.serve(bench.SERVERS["bare"], envs["bare"] | {"BENCH_FORM_PAGE": str(form_page)},
                     workdir) as bare:
        bench.run_wrk(bare + "/", bench.WARMUP)

        bench.say("16 filers, one school, 2 sync workers…")
        beside = bench.hello_beside(bare)
        with bench.serve(server, env, workdir) as base:
            with urllib.request.urlopen(base + form_path, timeout=30) as answer:
                form_page.write_bytes(answer.read())
            warm_up(base, [form_path], 16, workdir)
            done, figures = load(base, "one school", [form_path], 16, seconds, workdir)
        submissions += done
        results["one_school"] = figures | {"bare_requests_per_s": beside}

        bench.say("The same filers against a bare Flask form (the same page, no database)…")
        beside = bench.hello_beside(bare)
        warm_up(bare, [form_path], 16, workdir)
        _, figures = load(bare, "bare form", [form_path], 16, seconds, workdir)
        results["bare_form"] = figures | {"bare_requests_per_s": beside}

        bench.say("64 filers across 20 schools, 2 workers × 16 threads, sampling the locks…")
        beside = bench.hello_beside(bare)
        database = postgres.rsplit("/", 1)[1]
        process, base, log = bench.start(server, env, workdir, options=(
            "--worker-class", "gthread", "--threads", "16"))
        try:
            bench.wait_until_up(process, base + "/healthz", log)
            paths = [f"/s/{s}/complaints/" for s in schools]
            warm_up(base, paths, 64, workdir)
            sampler = LockSampler(bench.POSTGRES_ADMIN_URL or "", database)
            sampler.start()
            done, figures = load(base, "twenty schools", paths, 64, seconds, workdir)
            sampler.stop.set()
            sampler.join()
        finally:
            bench.stop(process)
        submissions += done
        results["twenty_schools"] = figures | {"schools": len(schools),
                                               "locks": sampler.figures(),
                                               "bare_requests_per_s": beside}

    stored = soak.read_back(envs["kaimen-pg"], submissions, ("one school", "twenty schools"))
    results["one_school"] |= stored["one school"]
    results["twenty_schools"] |= stored["twenty schools"]
    for key in ("one_school", "bare_form", "twenty_schools"):
        results[key]["ratio_to_bare"] = round(
            results[key]["requests_per_s"] / results[key]["bare_requests_per_s"], 3)
    return results


def table(results: dict[str, Any]) -> str:
    locks = results["twenty_schools"]["locks"]
    rows = [("16 filers, 1 school, 2 sync workers", results["one_school"]),
            ("the same against a bare Flask form (no database)", results["bare_form"]),
            (f"64 filers, {results['twenty_schools']['schools']} schools of one bureau, "
             "2 workers × 16 threads", results["twenty_schools"])]
    lines = [f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} · PostgreSQL · filers are "
             f"wrk connections (`submit.lua`: the form, then the opinion); each ratio is to bare "
             f"Flask's \"hello\" under wrk just before the scenario.", "",
             "| scenario | req/s | receipts/s | p95 ms | bare hello req/s | ratio to bare | "
             "receipts | rows | lost | duplicated | in flight at the end | errors |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
    for name, r in rows:
        stored = (f"{r['receipts']} | {r['rows']} | {r['lost']} | {r['duplicated']} | "
                  f"{r['rows_never_confirmed']}" if "rows" in r else "– | – | – | – | –")
        lines.append(f"| {name} | {r['requests_per_s']:.0f} | {r['receipts_per_s']:.0f} | "
                     f"{r['latency_ms']['p95']:.0f} | {r['bare_requests_per_s']:.0f} | "
                     f"{r['ratio_to_bare']:.2f} | {stored} | {r['errors'] or 'none'} |")
    # A lock is the limit when most active backends wait on it, and there are backends to
    # wait: with under one active on average, the database is idle much of the time and the
    # app's CPU is the limit, even when what little work it has mostly waits on the lock.
    limited = locks["mean_waiting_on_lock"] >= max(1.0, 0.5 * locks["mean_active"])
    if limited:
        verdict = "**is** the limit."
    elif locks["mean_waiting_on_lock"] >= 0.5 * locks["mean_active"]:
        verdict = ("is not the limit yet: under one backend waits on it on average, so the "
                   "app's CPU is the limit, but most of the database's busy time is spent "
                   "waiting on the lock, which would be the next limit.")
    else:
        verdict = "is not the limit; the CPU is."
    lines += ["", f"The audit lock with 64 filers: on average {locks['mean_active']} backends "
              f"were active and {locks['mean_waiting_on_lock']} waiting on a lock "
              f"({locks['share_of_samples_with_a_lock_wait']:.0%} of {locks['samples']} samples "
              f"saw a wait; {locks['lock_events'] or 'no lock waits'}): the lock " + verdict,
              "", "The statements that waited most: "
              + "; ".join(f"`{statement}` ({count})"
                          for statement, count in locks["waiting_statements"].items()) + "."]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--no-readme", action="store_true", help="print the table only")
    args = parser.parse_args()
    if not bench.POSTGRES_ADMIN_URL:
        bench.say("Submissions benchmark skipped: it needs BENCH_POSTGRES_URL (an admin URL).")
        return 0
    try:
        with tempfile.TemporaryDirectory(prefix="kaimen-submissions-") as tmp, \
                bench.postgres_database() as postgres:
            assert postgres is not None
            results = measure(Path(tmp), postgres, args.seconds)
    except bench.BenchError as error:
        bench.say(f"Submissions benchmark failed: {error}")
        return 1
    text_ = table(results)
    bench.say(text_)
    if not args.no_readme:
        bench.say("README.md updated." if bench.update_readme(text_, *MARKERS) else "")
    bench.say("SUBMISSIONS_JSON " + json.dumps(results))
    bad = any(results[k]["lost"] or results[k]["duplicated"]
              for k in ("one_school", "twenty_schools"))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
