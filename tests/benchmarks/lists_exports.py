"""Long lists and exports at 100,000 cases (``make bench``; issue 14, targets 5 and 6).

Builds a bureau of 20 schools with 100,000 opinions by bulk insert (SQLAlchemy inserts of
lists of dicts; no tenants loader, no password hashing) on SQLite, and on PostgreSQL when
``BENCH_POSTGRES_URL`` (an admin URL) is set, there as the non-superuser role row-level
security binds. Then, in process:

- the bureau's case list ``/b/<bureau>/complaints/``: page 1, page 500 reached by the
  pager's keyset link (``?page=500&after=…``), and page 500 typed as ``?page=500`` (OFFSET),
  each requested ``REPEAT`` times through the test client as a logged-in supervisor; p50/p95;
- the Excel and the CSV export of all 100,000 rows, each in a fresh process, read as a
  WSGI server reads a streamed body: time, and the process's peak RSS
  (``getrusage(RUSAGE_SELF).ru_maxrss``); each file is read back afterwards (openpyxl, csv)
  and its rows counted.

Prints the table and writes it into README.md between ``<!-- lists-bench:start -->`` and
``<!-- lists-bench:end -->``. ``python tests/benchmarks/lists_exports.py`` runs it all.
"""

from __future__ import annotations

import csv
import json
import os
import platform
import resource
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
BIN = Path(sys.executable).parent
START, END = "<!-- lists-bench:start -->", "<!-- lists-bench:end -->"

BUREAU, SCHOOLS, CASES = "bench-county", 20, 100_000
USERNAME = "bench.supervisor"
REPEAT = 30
PAGE = 500
PER_PAGE = 25
TARGET_PAGE_MS, TARGET_RSS_MB = 50, 150


# --- the data set --------------------------------------------------------------------------

def build() -> dict[str, Any]:
    """Create the bureau, its schools, a supervisor and the cases (run in its own process)."""
    import sqlalchemy as sa

    from blueprints.complaints.models import Complaint
    from kaimen import create_app, tenancy
    from kaimen.auth.models import RoleGrant, User
    from kaimen.extensions import db
    from kaimen.orgs import Organisation

    app = create_app()
    started = time.perf_counter()
    with app.app_context(), tenancy.system_scope():
        bureau = Organisation(kind="bureau", slug=BUREAU, name="基准县教育局")
        db.session.add(bureau)
        db.session.flush()
        db.session.execute(sa.insert(Organisation), [
            {"kind": "school", "slug": f"bench-school-{n:02d}", "name": f"基准第{n + 1}小学",
             "parent_id": bureau.id} for n in range(SCHOOLS)])
        schools = list(db.session.scalars(
            sa.select(Organisation.id).where(Organisation.parent_id == bureau.id)
            .order_by(Organisation.id)))
        # An unusable hash: the benchmark sets the login session itself.
        user = User(username=USERNAME, display_name="基准督导", password_hash="!")
        user.grants.append(RoleGrant(role="supervisor", org_id=bureau.id))
        db.session.add(user)
        db.session.flush()
        user_id = user.id
        kinds, categories = ["complaint", "suggestion", "praise"], ["conduct", "teaching", "moral"]
        channels = ["online", "paper_box", "hotline"]
        statuses = ["received", "accepted", "handling", "answered", "closed"]
        base = datetime(2026, 1, 1, 8, 0)
        batch: list[dict[str, Any]] = []
        for n in range(CASES):
            # Two cases share each timestamp, so the id breaks ties in the order.
            created = base + timedelta(minutes=(n // 2) * 3)
            received = created.date()
            batch.append({
                "school_id": schools[n % SCHOOLS], "kind": kinds[n % 3],
                "category": categories[n % 3], "channel": channels[n % 3],
                "subject": f"关于第{n}号意见：食堂与课后服务", "description":
                f"家长反映（{n}）：学校食堂饭菜偏咸，课后服务时间安排不合理，希望学校尽快研究改进。",
                "anonymous": n % 5 != 0, "contact_name": None if n % 5 else f"家长{n}",
                "about_leadership": n % 50 == 0, "status": statuses[n % 5],
                "owner_id": user_id if n % 4 == 0 else None, "handled_by_bureau": False,
                "created_at": created, "received_on": received,
                "ack_due": received + timedelta(days=3),
                "answer_due": received + timedelta(days=15),
                "answer": "已整改。" if n % 5 >= 3 else None,
                "flagged_for_bureau": n % 7 == 0, "urged_count": n % 3, "content_digest": "",
            })
            if len(batch) == 10_000:
                db.session.execute(sa.insert(Complaint), batch)
                batch = []
        if batch:
            db.session.execute(sa.insert(Complaint), batch)
        db.session.commit()
    return {"build_s": round(time.perf_counter() - started, 1), "user_id": user_id}


# --- in process ----------------------------------------------------------------------------

def _client(app: Any) -> Any:
    import sqlalchemy as sa

    from kaimen import tenancy
    from kaimen.auth import LAST_SEEN
    from kaimen.auth.models import User
    from kaimen.extensions import db

    with app.app_context(), tenancy.system_scope():
        user = db.session.scalar(sa.select(User).where(User.username == USERNAME))
        assert user is not None, "build the data set first"
        user_id = user.get_id()
    client = app.test_client()
    with client.session_transaction() as session:
        session["_user_id"] = user_id
        session["_fresh"] = True
        session[LAST_SEEN] = int(time.time())
    return client


def _cursor_of_page(app: Any, page: int) -> str:
    """Return the ``after=`` cursor the pager's "next" link on page ``page - 1`` carries."""
    import sqlalchemy as sa

    from blueprints.complaints.models import Complaint, with_leadership
    from kaimen import tenancy
    from kaimen.extensions import db
    from kaimen.pagination import _encode

    with app.app_context(), tenancy.system_scope():
        row = db.session.execute(with_leadership(
            sa.select(Complaint.created_at, Complaint.id)
            .order_by(Complaint.created_at.desc(), Complaint.id.desc())
            .offset((page - 1) * PER_PAGE - 1).limit(1))).one()
    return _encode(list(row))


def pages() -> dict[str, Any]:
    """Time page 1, page 500 by keyset and page 500 by OFFSET of the bureau's case list."""
    from kaimen import create_app

    app = create_app()
    client = _client(app)
    base = f"/b/{BUREAU}/complaints/"
    cursor = _cursor_of_page(app, PAGE)
    urls = {"page 1": base, f"page {PAGE}, keyset link": f"{base}?page={PAGE}&after={cursor}",
            f"page {PAGE}, typed (?page={PAGE}, OFFSET)": f"{base}?page={PAGE}"}
    figures: dict[str, Any] = {}
    for name, url in urls.items():
        first = client.get(url)
        text = first.get_data(as_text=True)
        assert first.status_code == 200, (url, first.status_code)
        expected = 1 if name == "page 1" else PAGE
        assert f"{expected} / " in text or f"Page {expected} of" in text or \
            f"第 {expected} 页" in text, f"{url} did not show page {expected}"
        times = []
        for _ in range(REPEAT):
            started = time.perf_counter()
            response = client.get(url)
            response.get_data()
            times.append((time.perf_counter() - started) * 1000)
        figures[name] = {"p50_ms": round(statistics.median(times), 1),
                         "p95_ms": round(statistics.quantiles(times, n=20)[18], 1)}
    return figures


def export(fmt: str) -> dict[str, Any]:
    """Download every case as ``fmt``, streamed to a file; time and peak RSS; read it back."""
    from kaimen import create_app

    app = create_app()
    client = _client(app)
    client.get(f"/b/{BUREAU}/complaints/")  # warm up: templates, translations, plugins
    before = _max_rss_mb()
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"export.{fmt}"
        started = time.perf_counter()
        response = client.get(f"/b/{BUREAU}/complaints/export.{fmt}", buffered=False)
        assert response.status_code == 200, response.status_code
        streamed = not isinstance(response.response, (list, tuple, bytes))
        pieces = 0
        with path.open("wb") as out:
            for chunk in response.response:
                out.write(chunk)
                pieces += 1
        response.close()
        seconds = time.perf_counter() - started
        peak = _max_rss_mb()
        size = path.stat().st_size
        rows = _rows_in(path, fmt)
    return {"seconds": round(seconds, 1), "peak_rss_mb": round(peak, 1),
            "rss_before_mb": round(before, 1), "size_mb": round(size / 2**20, 1),
            "rows": rows, "pieces": pieces, "streamed": streamed}


def _max_rss_mb() -> float:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 1024


def _rows_in(path: Path, fmt: str) -> int:
    """Count the data rows of the file, read back as Excel and a CSV reader would."""
    if fmt == "csv":
        with path.open(encoding="utf-8-sig", newline="") as source:
            return sum(1 for _ in csv.reader(source)) - 1
    from openpyxl import load_workbook

    workbook = load_workbook(path, read_only=True)
    count = sum(1 for _ in workbook.active.iter_rows(values_only=True)) - 1
    workbook.close()
    return count


# --- orchestration -------------------------------------------------------------------------

def _child(step: str, env: dict[str, str], *args: str) -> dict[str, Any]:
    done = subprocess.run([sys.executable, __file__, step, *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=900, check=False)
    if done.returncode != 0:
        sys.exit(f"{step} failed:\n{done.stdout}{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def run_backend(name: str, url: str, admin_url: str | None) -> dict[str, Any]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KAIMEN_")}
    env |= {"KAIMEN_DATABASE_URL": url, "KAIMEN_SECRET_KEY": secrets.token_hex(32),
            "KAIMEN_AUDIT_KEY": secrets.token_hex(32), "KAIMEN_DEBUG": "1"}
    done = subprocess.run([str(BIN / "flask"), "--app", "kaimen", "db", "upgrade"], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=600, check=False)
    if done.returncode != 0:
        sys.exit(f"db upgrade failed:\n{done.stdout}{done.stderr}")
    print(f"{name}: building {CASES:,} cases…", file=sys.stderr)  # noqa: T201
    result: dict[str, Any] = {"build": _child("build", env)}
    if url.startswith("sqlite"):  # the planner's statistics (see the README: PRAGMA optimize)
        import sqlite3  # noqa: PLC0415

        with sqlite3.connect(url.removeprefix("sqlite:///")) as connection:
            connection.execute("ANALYZE")
    if admin_url:  # fresh statistics and visibility map, as autovacuum would give
        from run import psql  # noqa: PLC0415
        from sqlalchemy.engine import make_url  # noqa: PLC0415

        database = make_url(url).database
        psql(make_url(admin_url).set(database=database).render_as_string(hide_password=False),
             "VACUUM ANALYZE")
    print(f"{name}: timing pages…", file=sys.stderr)  # noqa: T201
    result["pages"] = _child("pages", env)
    for fmt in ("xlsx", "csv"):
        print(f"{name}: exporting {fmt}…", file=sys.stderr)  # noqa: T201
        result[fmt] = _child("export", env, fmt)
    return result


def table(results: dict[str, dict[str, Any]]) -> str:
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    lines = [f"{now} · {os.cpu_count()} cores (load average {load}) · "
             f"Python {platform.python_version()} · "
             f"{CASES:,} opinions in {SCHOOLS} schools of one bureau, built by bulk insert; "
             f"in process (Flask test client), {REPEAT} requests per page.", "",
             "| list or export | database | p50 ms | p95 ms | time s | peak RSS MB | target |",
             "|---|---|---:|---:|---:|---:|---|"]
    for backend, result in results.items():
        for name, figures in result["pages"].items():
            target = f"p95 ≤ {TARGET_PAGE_MS} ms" if "OFFSET" not in name else "(for comparison)"
            lines.append(f"| bureau case list, {name} | {backend} | {figures['p50_ms']} | "
                         f"{figures['p95_ms']} | | | {target} |")
        for fmt, label in (("xlsx", "Excel"), ("csv", "CSV")):
            figures = result[fmt]
            lines.append(f"| {label} export of {figures['rows']:,} rows ({figures['size_mb']} MB, "
                         f"read back) | {backend} | | | {figures['seconds']} | "
                         f"{figures['peak_rss_mb']} | ≤ {TARGET_RSS_MB} MB |")
    lines.append("")
    lines.append("Peak RSS is the whole worker process (Python, Flask, every plugin); before "
                 "each export it stood at " + ", ".join(
                     f"{r[fmt]['rss_before_mb']} MB ({b}, {fmt})" for b, r in results.items()
                     for fmt in ("xlsx", "csv")) + ".")
    return "\n".join(lines)


def main() -> int:
    sys.path.insert(0, str(HERE))
    from run import postgres_database, update_readme  # noqa: PLC0415  (the bench's own)

    results: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory() as folder:
        results["SQLite"] = run_backend("SQLite", f"sqlite:///{folder}/lists.db", None)
    with postgres_database() as url:
        if url:
            results["PostgreSQL (RLS)"] = run_backend("PostgreSQL", url,
                                                      os.environ["BENCH_POSTGRES_URL"])
    text = table(results)
    print(text)  # noqa: T201
    (HERE / "results").mkdir(exist_ok=True)
    (HERE / "results" / "lists_exports.json").write_text(json.dumps(results, indent=2))
    if not update_readme(text, START, END):
        print("README.md has no lists-bench markers; the table was not written", file=sys.stderr)  # noqa: T201
    failed = [f"{b} {name}" for b, r in results.items() for name, f in r["pages"].items()
              if "OFFSET" not in name and f["p95_ms"] > TARGET_PAGE_MS]
    failed += [f"{b} {fmt}" for b, r in results.items() for fmt in ("xlsx", "csv")
               if r[fmt]["peak_rss_mb"] > TARGET_RSS_MB or r[fmt]["rows"] != CASES]
    if failed:
        print("targets missed: " + ", ".join(failed), file=sys.stderr)  # noqa: T201
    return 0


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] != "all":
        step = {"build": build, "pages": pages}.get(sys.argv[1])
        output = export(sys.argv[2]) if sys.argv[1] == "export" else step() if step else None
        if output is None:
            sys.exit(f"unknown step {sys.argv[1]!r}")
        print(json.dumps(output))  # noqa: T201
    else:
        sys.exit(main())
