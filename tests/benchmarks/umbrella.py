"""Time the umbrella view ``/b/<bureau>/`` in process at 10, 100 and 1,000 schools (``make bench``).

Builds three counties by bulk insert (``umbrella_data.py``: per school 100 complaint
cases, 50 pledges, 500 home visits, 500 liaison visits, a plan's ledger and open days)
in a fresh SQLite database and, with ``BENCH_POSTGRES_URL``, in a fresh PostgreSQL one
(as the non-superuser role that row-level security binds), logs in as each county's
supervisor with Flask's test client and times ``ROUNDS`` requests of the page, next to a
bare Flask app's "hello" in the same process for the same number of requests. The timed
requests find every school's figures kept (``kaimen.figures``); two more columns say what a
page costs with none kept ("cold": every school counted, as after a restart without Redis or
on a new day) and after a write in one school (that school counted again). Writes the
table into README.md between ``<!-- umbrella:start -->`` and ``<!-- umbrella:end -->``.

``BENCH_UMBRELLA_ROUNDS`` sets the requests per size (default 40); ``--profile`` prints
cProfile's top functions for the largest county instead of writing the README.
"""

from __future__ import annotations

import cProfile
import io
import os
import pstats
import secrets
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from flask_migrate import upgrade
from werkzeug.security import generate_password_hash

from kaimen import create_app, figures, pagecache, tenancy
from kaimen.extensions import db
from kaimen.orgs import Organisation

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(HERE))
from bare_app import app as bare_app  # noqa: E402
from run import postgres_database, update_readme  # noqa: E402
from umbrella_data import FULL, build_county  # noqa: E402

START, END = "<!-- umbrella:start -->", "<!-- umbrella:end -->"
SIZES = tuple(int(n) for n in os.environ.get("BENCH_UMBRELLA_SIZES", "10,100,1000").split(","))
ROUNDS = int(os.environ.get("BENCH_UMBRELLA_ROUNDS", "40"))
# A slow page stops after this many seconds (but never before MIN_ROUNDS requests), so the
# scenario ends within minutes however far from the target the page is.
BUDGET_S, MIN_ROUNDS = float(os.environ.get("BENCH_UMBRELLA_BUDGET", "30")), 10
WARMUP = 3
PASSWORD = secrets.token_urlsafe(12)
TARGET_P95_MS = 100
CHANGES = 5  # pages timed each after a write in one school


def say(text: str = "") -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def make_app(url: str) -> Any:
    return create_app({
        "SECRET_KEY": secrets.token_hex(32),
        "DATABASE_URL": url,
        "WTF_CSRF_ENABLED": False,
        "RATELIMIT_ENABLED": False,
        "ALLOWED_HOSTS": "localhost",  # the test client's host
        "AUDIT_KEY": secrets.token_hex(32),
    })


def build(app: Any) -> dict[str, dict[str, int]]:
    """Migrate the empty database and add one county per size; return the rows made."""
    made = {}
    with app.app_context():
        upgrade(directory=str(ROOT / "migrations"))
        password_hash = generate_password_hash(PASSWORD, method=app.config["PASSWORD_METHOD"])
        with tenancy.system_scope():
            for size in SIZES:
                started = time.perf_counter()
                made[f"bench{size}"] = build_county(f"bench{size}", size, FULL,
                                                    password_hash=password_hash)
                say(f"  {size:>5} schools built in {time.perf_counter() - started:5.1f} s: "
                    f"{made[f'bench{size}']}")
        if db.engine.dialect.name == "postgresql":
            # Statistics for the planner, and the visibility map for index-only scans.
            with db.engine.connect().execution_options(
                    isolation_level="AUTOCOMMIT") as connection:
                connection.execute(sa.text("VACUUM ANALYZE"))
    return made


@contextmanager
def counting(engine: Any) -> Iterator[list[str]]:
    statements: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement)

    sa.event.listen(engine, "before_cursor_execute", record)
    try:
        yield statements
    finally:
        sa.event.remove(engine, "before_cursor_execute", record)


def time_requests(client: Any, path: str, rounds: int,
                  profile: cProfile.Profile | None = None) -> list[float]:
    """Return the milliseconds each of ``rounds`` GETs of ``path`` took (after a warm-up)."""
    for _ in range(WARMUP):
        assert client.get(path).status_code == 200
    times: list[float] = []
    began = time.perf_counter()
    for _ in range(rounds):
        if len(times) >= MIN_ROUNDS and time.perf_counter() - began > BUDGET_S:
            break
        started = time.perf_counter()
        with profile if profile is not None else nullcontext():
            response = client.get(path)
        times.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, response.status_code
    return times


def p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20, method="inclusive")[18]


def measure(app: Any, backend: str, profile: bool) -> list[dict[str, Any]]:
    results = []
    for size in SIZES:
        client = app.test_client()
        slug = f"bench{size}"
        response = client.post("/login", data={"username": f"{slug}.supervisor",
                                               "password": PASSWORD})
        assert response.status_code == 302, f"the supervisor's login failed: {response.status_code}"
        path = f"/b/{slug}/"
        with app.app_context():
            engine = db.engine
        with counting(engine) as statements:
            page = client.get(path)
        assert page.status_code == 200
        with counting(engine) as kept_statements:  # the same page again: the kept view
            assert client.get(path).status_code == 200
        rows = page.text.count('<th scope="row">') - 1  # less the total
        cold, changed = cold_and_changed(app, client, path, slug)
        profiler = cProfile.Profile() if profile and size == SIZES[-1] else None
        times = time_requests(client, path, ROUNDS, profiler)
        if profiler is not None:
            out = io.StringIO()
            pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(45)
            say(out.getvalue())
        results.append({"backend": backend, "schools": size, "rows": rows,
                        "queries": len(statements), "kept_queries": len(kept_statements),
                        "p50": statistics.median(times),
                        "p95": p95(times), "bytes": len(page.data), "requests": len(times),
                        "cold": cold, "changed": changed})
        say(f"  {backend:<10} {size:>5} schools: p50 {results[-1]['p50']:6.1f} ms, "
            f"p95 {results[-1]['p95']:6.1f} ms, cold {cold:6.0f} ms, one school changed "
            f"{changed:6.1f} ms, {len(statements)} queries made, "
            f"{len(kept_statements)} kept, "
            f"{len(page.data) // 1024} KiB, {len(times)} requests")
    return results


def cold_and_changed(app: Any, client: Any, path: str, slug: str) -> tuple[float, float]:
    """Time the page with no kept figures (every school counted), then the median of
    ``CHANGES`` pages each after a write in one school (that school counted again)."""
    with app.app_context():
        figures.forget()
    started = time.perf_counter()
    assert client.get(path).status_code == 200
    cold = (time.perf_counter() - started) * 1000
    times = []
    with app.app_context(), tenancy.system_scope():
        school_ids = list(db.session.scalars(
            sa.select(Organisation.id).where(Organisation.slug.like(f"{slug}-%"))
            .order_by(Organisation.id).limit(CHANGES)))
    for school_id in school_ids:
        with app.app_context(), tenancy.system_scope():
            with db.engine.begin() as connection:  # as a writer's commit does
                pagecache.bump(connection, [school_id])
        started = time.perf_counter()
        assert client.get(path).status_code == 200
        times.append((time.perf_counter() - started) * 1000)
    return cold, statistics.median(times)


def bare_baseline() -> dict[str, float]:
    client = bare_app.test_client()
    times = time_requests(client, "/", ROUNDS)
    return {"p50": statistics.median(times), "p95": p95(times)}


def table(results: list[dict[str, Any]], bare: dict[str, float]) -> str:
    lines = [
        f"{datetime.now(UTC):%Y-%m-%d %H:%M UTC} · {os.cpu_count()} cores · Python "
        f"{sys.version.split()[0]} · in process (Flask test client, logged in as the "
        f"county's supervisor), up to {ROUNDS} requests per line ({MIN_ROUNDS} at least, "
        f"{BUDGET_S:.0f} s at most) after {WARMUP} to warm up. Per "
        f"school: {FULL.cases} complaint cases, {FULL.pledges} pledges, {FULL.home_visits} home "
        f"visits, {FULL.liaison_visits} liaison visits, {FULL.measures} ledger items, "
        f"{FULL.open_days} open days with {FULL.registrations} registrations each.",
        "",
        "| database | schools | requests | p50 ms | p95 ms | queries (kept view) "
        "| queries (view made) | p95 ≤ 100 ms | cold ms | after a write in one school, ms |",
        "|---|---:|---:|---:|---:|---:|---:|:---:|---:|---:|",
    ]
    for r in results:
        lines.append(f"| {r['backend']} | {r['schools']:,} | {r['requests']} | {r['p50']:.1f} | "
                     f"{r['p95']:.1f} | {r['kept_queries']} | {r['queries']} | "
                     f"{'yes' if r['p95'] <= TARGET_P95_MS else '**no**'} | "
                     f"{r['cold']:.0f} | {r['changed']:.1f} |")
    lines.append(f"| bare Flask hello, same client | – | {ROUNDS} | {bare['p50']:.2f} | "
                 f"{bare['p95']:.2f} | 0 | 0 | | | |")
    return "\n".join(lines)


def main() -> int:
    profile = "--profile" in sys.argv
    started = time.perf_counter()
    results: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="kaimen-umbrella-") as tmp, \
            postgres_database() as postgres:
        backends = [("SQLite", f"sqlite:///{Path(tmp) / 'umbrella.db'}")]
        if postgres:
            backends.append(("PostgreSQL", postgres))
        for backend, url in backends:
            say(f"Building {', '.join(map(str, SIZES))} schools on {backend}…")
            app = make_app(url)
            build(app)
            results += measure(app, backend, profile)
            with app.app_context():
                db.engine.dispose()
    bare = bare_baseline()
    text = table(results, bare)
    say()
    say(text)
    say(f"\nThe umbrella scenario took {time.perf_counter() - started:.0f} s.")
    if not profile:
        say("README.md updated." if update_readme(text, START, END)
            else "README.md has no umbrella markers.")
    return 0  # a missed target shows in the table ("no"); only an error fails the run


if __name__ == "__main__":
    sys.exit(main())
