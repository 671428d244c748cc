"""Parents filing opinions on PostgreSQL (issue 14, item 3): throughput and the audit lock.

Two scenarios against the demo county on a fresh PostgreSQL database (``BENCH_POSTGRES_URL``,
an admin URL, as for ``make bench``), with the clients of ``soak.py`` (each opens the form,
sends it with its tokens as a browser does and reads the receipt off the answer):

1. **16 filers, one school**, gunicorn as in ``run.py`` (2 sync workers): requests per
   second, as a ratio to bare Flask "hello" under wrk in the same run.
2. **64 filers across 20 schools of one bureau**, gunicorn with 2 workers of 16 threads, so
   that up to 32 submissions are in the database at once. Every write appends to its
   school's audit chain (one per school since 0018; one per bureau before) and locks that
   chain's ``audit_head`` row for its commit. A sampler reads ``pg_stat_activity`` every
   20 ms: how often a backend of the app was waiting on a lock, against how often one was
   active, and which statements waited. If a lock were the limit, most active backends
   would be waiting on it.

Each receipt a client was shown must lead to its complaint, stored once (``soak.read_back``).
Writes the table into README.md between its markers.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import threading
import time
import tomllib
from pathlib import Path
from typing import Any

import run as bench
import soak
from sqlalchemy import create_engine, text

MARKERS = ("<!-- submissions:start -->", "<!-- submissions:end -->")
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


def load(base: str, phase: str, paths: list[str], clients: int,
         seconds: float) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Run ``clients`` soak clients over ``paths`` (in turn) for ``seconds``."""
    tally, stop = soak.Tally(), threading.Event()
    tally.hard_stop = time.monotonic() + seconds + 60
    threads = [soak.Client(n + 1, base, phase, tally, stop, path=paths[n % len(paths)])
               for n in range(clients)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    time.sleep(seconds)
    stop.set()
    tally.hard_stop = time.monotonic() + soak.DRAIN_SECONDS
    for thread in threads:
        thread.join(timeout=soak.DRAIN_SECONDS + soak.CLIENT_TIMEOUT)
    elapsed = time.monotonic() - started
    return tally.submissions, {"phase": phase, "clients": clients, "seconds": round(elapsed, 1),
                               "requests": tally.requests,
                               "requests_per_s": round(tally.requests / elapsed, 1),
                               "errors": dict(tally.errors)}


def measure(workdir: Path, postgres: str, seconds: float) -> dict[str, Any]:
    envs = bench.environments(workdir, postgres)
    soak.build_database("PostgreSQL", envs["setup-pg"])
    schools = (demo_schools() + add_schools(envs["setup-pg"], workdir))[:20]
    env = envs["kaimen-pg"] | soak.LIMITS
    server = bench.Server("kaimen-pg", "kaimen:create_app()", kaimen=True)
    results: dict[str, Any] = {}
    submissions: list[dict[str, Any]] = []

    bench.say("Bare Flask under wrk, for the ratio…")
    with bench.serve(bench.SERVERS["bare"], envs["bare"], workdir) as base:
        bench.run_wrk(base + "/", bench.WARMUP)
        results["bare_requests_per_s"] = bench.run_wrk(base + "/", f"{seconds:g}s")[
            "requests_per_s"]

    bench.say("16 filers, one school, 2 sync workers…")
    with bench.serve(server, env, workdir) as base:
        done, figures = load(base, "one school", [f"/s/{schools[0]}/complaints/"], 16, seconds)
    submissions += done
    results["one_school"] = figures

    bench.say("64 filers across 20 schools, 2 workers × 16 threads, sampling the locks…")
    database = postgres.rsplit("/", 1)[1]
    process, base, log = bench.start(server, env, workdir, options=(
        "--worker-class", "gthread", "--threads", "16"))
    try:
        bench.wait_until_up(process, base + "/healthz", log)
        sampler = LockSampler(bench.POSTGRES_ADMIN_URL or "", database)
        sampler.start()
        done, figures = load(base, "twenty schools",
                             [f"/s/{s}/complaints/" for s in schools], 64, seconds)
        sampler.stop.set()
        sampler.join()
    finally:
        bench.stop(process)
    submissions += done
    results["twenty_schools"] = figures | {"schools": len(schools), "locks": sampler.figures()}

    stored = soak.read_back(envs["kaimen-pg"], submissions, ("one school", "twenty schools"))
    results["one_school"] |= stored["one school"]
    results["twenty_schools"] |= stored["twenty schools"]
    for key in ("one_school", "twenty_schools"):
        results[key]["ratio_to_bare"] = round(
            results[key]["requests_per_s"] / results["bare_requests_per_s"], 3)
    return results


def table(results: dict[str, Any]) -> str:
    locks = results["twenty_schools"]["locks"]
    rows = [("16 filers, 1 school, 2 sync workers", results["one_school"]),
            (f"64 filers, {results['twenty_schools']['schools']} schools of one bureau, "
             "2 workers × 16 threads", results["twenty_schools"])]
    lines = [f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} · PostgreSQL · bare Flask "
             f"under wrk: {results['bare_requests_per_s']:.0f} req/s.", "",
             "| scenario | req/s | ratio to bare | receipts | rows | lost | duplicated | "
             "errors |", "|---|---:|---:|---:|---:|---:|---:|---|"]
    for name, r in rows:
        lines.append(f"| {name} | {r['requests_per_s']:.0f} | {r['ratio_to_bare']:.2f} | "
                     f"{r['receipts']} | {r['rows']} | {r['lost']} | {r['duplicated']} | "
                     f"{r['errors'] or 'none'} |")
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
    bench.say("README.md updated." if bench.update_readme(text_, *MARKERS) else "")
    bench.say("SUBMISSIONS_JSON " + json.dumps(results))
    bad = any(results[k]["lost"] or results[k]["duplicated"]
              for k in ("one_school", "twenty_schools"))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
