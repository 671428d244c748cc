"""Capacity holds under load: many parents register at once against gunicorn's workers.

A real gunicorn with several worker processes serves a fresh database (SQLite, and
PostgreSQL as the row-level-security-bound app role); parents on many threads each
fetch the form (CSRF token, one-time token) and post it, some twice at once (a double
tap). Afterwards the seats are counted in the database: never above capacity, every
registration either seated or waiting, one registration per form. All forms are
fetched first and then sent at once, so the last seats are contested: with the event
row's lock taken out of ``services.lock``, the PostgreSQL run seated 13 people in 12
places when this test was written (SQLite serialises writers by itself).
"""

from __future__ import annotations

import http.cookiejar
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from conftest import make_app

from blueprints.opendays import services
from blueprints.opendays.models import CONFIRMED, WAITLISTED, Registration
from kaimen import rls, tenancy
from kaimen.extensions import db
from kaimen.orgs import BUREAU, SCHOOL, Organisation

from .conftest import event_values

ROOT = Path(__file__).resolve().parents[3]
GUNICORN = Path(sys.executable).parent / "gunicorn"
WORKERS, PARENTS, DOUBLE_TAPS, CAPACITY, THREADS = 4, 60, 10, 12, 24
CSRF = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')
TOKEN = re.compile(r'id="token" name="token" type="hidden" value="([^"]+)"')
CODE = re.compile(r'class="od-code">([0-9A-Z-]+)<')


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def build(url: str) -> int:
    """Create the schema, a bureau, a school and an event; return the event's id."""
    app = make_app(url)
    with app.app_context(), tenancy.system_scope():
        db.create_all()
        with db.engine.begin() as connection:
            rls.enable(connection, tenancy.tenant_table_names())
        bureau = Organisation(kind=BUREAU, slug="load", name="压力测试教育局")
        db.session.add(bureau)
        db.session.flush()
        school = Organisation(kind=SCHOOL, slug="load-school", name="压力测试学校",
                              parent_id=bureau.id)
        db.session.add(school)
        db.session.flush()
        event = services.create_event(school, event_values(capacity=CAPACITY), None)
        db.session.commit()
        event_id = event.id
        db.session.remove()
        db.engine.dispose()
    return event_id


@contextmanager
def gunicorn(url: str, log: Path) -> Iterator[str]:
    """Serve the app with several gunicorn workers on a loopback port; stop it afterwards."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("KAIMEN_")} | {
        "KAIMEN_DATABASE_URL": url, "KAIMEN_SECRET_KEY": secrets.token_hex(32),
        "KAIMEN_AUDIT_KEY": secrets.token_hex(32),
        "KAIMEN_PASSWORD_METHOD": os.environ.get("KAIMEN_PASSWORD_METHOD", "scrypt"),
        # Plain http on loopback: an https base URL would mark the session cookie Secure.
        "KAIMEN_RATELIMIT_ENABLED": "0", "KAIMEN_BASE_URL": f"http://127.0.0.1:{port}",
    }
    with log.open("w") as output:
        process = subprocess.Popen(
            [str(GUNICORN), "--workers", str(WORKERS), "--worker-class", "sync",
             "--threads", "1", "--bind", f"127.0.0.1:{port}", "--log-level", "warning",
             "--graceful-timeout", "5", "--timeout", "60", "kaimen:create_app()"],
            cwd=ROOT, env=env, stdout=output, stderr=subprocess.STDOUT, start_new_session=True,
        )
        try:
            base = f"http://127.0.0.1:{port}"
            wait_until_up(process, base, log)
            yield base
        finally:
            stop(process)


def wait_until_up(process: subprocess.Popen, base: str, log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"gunicorn exited:\n{log.read_text()}")
        try:
            with urllib.request.urlopen(base + "/healthz", timeout=2):  # noqa: S310 - loopback
                return
        except OSError:
            time.sleep(0.2)
    raise AssertionError(f"gunicorn did not answer in 60 s:\n{log.read_text()}")


def stop(process: subprocess.Popen) -> None:
    process.terminate()  # the master stops its workers on SIGTERM
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)  # its own session: only gunicorn and workers
        process.wait(timeout=5)


@dataclass
class Parent:
    """One parent's browser: its cookies and the filled form it is about to send."""

    opener: Any
    body: bytes
    taps: int  # 2 for a double tap


def prepare(base: str, path: str, number: int) -> Parent:
    """Fetch the form (session cookie, CSRF token, one-time token) and fill it in."""
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    with opener.open(base + path, timeout=60) as page:
        html = page.read().decode()
    fields = {"csrf_token": CSRF.search(html)[1], "token": TOKEN.search(html)[1],
              "name": f"家长{number}", "phone": f"139{number:08d}", "child_class": "三年级1班",
              "attendees": str(1 + number % 2)}
    return Parent(opener, urllib.parse.urlencode(fields).encode(),
                  2 if number < DOUBLE_TAPS else 1)


def post(base: str, path: str, parent: Parent) -> tuple[int, str | None]:
    """Send the form; return the status and the registration code shown."""
    try:
        with parent.opener.open(base + path, data=parent.body, timeout=60) as answer:
            found = CODE.search(answer.read().decode())
            return answer.status, found[1] if found else None
    except urllib.error.HTTPError as error:
        return error.code, None


@pytest.mark.timeout(240)
def test_capacity_is_never_exceeded_under_parallel_registrations(backend, fresh_database,
                                                                  tmp_path):
    url = fresh_database.url(backend)
    event_id = build(url)
    path = f"/s/load-school/opendays/{event_id}"
    with gunicorn(url, tmp_path / "gunicorn.log") as base:
        with ThreadPoolExecutor(max_workers=THREADS) as pool:
            parents = list(pool.map(lambda n: prepare(base, path, n), range(PARENTS)))
            # Then every form at once (a double tap sends its form twice, side by side), so
            # the workers take registrations for the last seats at the same moment.
            sends = [p for p in parents for _tap in range(p.taps)]
            started = time.monotonic()
            answers = list(pool.map(lambda p: post(base, path, p), sends))
            elapsed = time.monotonic() - started
    statuses = Counter(status for status, _code in answers)
    assert statuses == {200: PARENTS + DOUBLE_TAPS}, (statuses, (tmp_path / "gunicorn.log")
                                                      .read_text()[-3000:])

    app = make_app(url)
    with app.app_context(), tenancy.system_scope():
        rows = list(db.session.scalars(sa.select(Registration)))
        db.session.remove()
        db.engine.dispose()
    seated = sum(r.attendees for r in rows if r.status == CONFIRMED)
    waiting = [r for r in rows if r.status == WAITLISTED]
    demand = sum(1 + n % 2 for n in range(PARENTS))
    assert len(rows) == PARENTS  # a double tap registers once
    assert {r.status for r in rows} == {CONFIRMED, WAITLISTED}
    assert CAPACITY - 1 <= seated <= CAPACITY  # never above; at most one seat no party fits
    assert seated + sum(r.attendees for r in waiting) == demand
    # A double tap shows the same code on both answers.
    for number in range(DOUBLE_TAPS):
        first, second = answers[2 * number], answers[2 * number + 1]
        assert first[1] is not None
        assert first[1] == second[1]
    sys.stdout.write(
        f"\n[{backend}] {WORKERS} gunicorn workers, {THREADS} client threads: "
        f"{PARENTS + DOUBLE_TAPS} POSTs ({PARENTS} parents, {DOUBLE_TAPS} double taps) "
        f"for {demand} people in {elapsed:.1f} s; capacity {CAPACITY}, seated {seated} in "
        f"{sum(1 for r in rows if r.status == CONFIRMED)} registrations, waitlisted "
        f"{len(waiting)} registrations ({sum(r.attendees for r in waiting)} people)\n"
    )
