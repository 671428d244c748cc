"""What the public sends leaves no address and no exact time behind (issue 9, item 12).

Rate limits and the login throttle key on a daily keyed hash of the address, and
anonymous filings, their timeline, receipts and audit events are stored to the minute.
"""

from __future__ import annotations

import io
import uuid
from datetime import UTC, datetime

import pytest
import redis
import sqlalchemy as sa
from conftest import REDIS, make_app, redis_running
from plugins.complaints.helpers import all_cases, form_token, opinion, receipt_code

from blueprints.complaints import services
from kaimen import addresses, timeutil
from kaimen.addresses import address_key
from kaimen.audit import AuditEvent
from kaimen.auth.models import LoginThrottle
from kaimen.extensions import db
from kaimen.receipts import Receipt
from kaimen.tenancy import system_scope

ADDRESS = "203.0.113.77"
REDIS_DB = 11  # a database of its own: the other Redis tests use 15
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 16
REAL_DATETIME = datetime
NOW = REAL_DATETIME(2026, 3, 2, 1, 17, 42, 123456, tzinfo=UTC)


# --- the daily keyed hash ----------------------------------------------------------------------


def test_the_address_hash_is_keyed_and_changes_with_the_day(app, ctx):
    today = address_key(ADDRESS, day=20514)
    assert today == address_key(ADDRESS, day=20514)
    assert len(today) == addresses.KEY_HEX_CHARS
    assert ADDRESS not in today
    assert address_key(ADDRESS, day=20515) != today  # tomorrow: another key
    assert address_key("203.0.113.78", day=20514) != today
    app.config["ADDRESS_KEY"] = "another-key-for-client-addresses-0123456789"
    assert address_key(ADDRESS, day=20514) != today  # keyed: no key, no dictionary attack


def test_the_request_address_is_hashed_for_the_day(app, monkeypatch):
    monkeypatch.setattr(addresses, "day_number", lambda: 20514)
    with app.test_request_context(environ_base={"REMOTE_ADDR": ADDRESS}):
        assert address_key() == address_key(ADDRESS, day=20514)


def test_the_login_throttle_stores_no_address(app, ctx, client, county):
    response = client.post("/login", data={"username": "a1.admin", "password": "wrong one"},
                           environ_base={"REMOTE_ADDR": ADDRESS})
    assert response.status_code == 200
    db.session.expire_all()
    stored = {row.address for row in db.session.scalars(sa.select(LoginThrottle))}
    assert stored == {address_key(ADDRESS), ""}


@pytest.mark.skipif(not redis_running(), reason="Redis is not running on 127.0.0.1:6379")
def test_redis_holds_no_address_after_anonymous_filings(fresh_database, monkeypatch):
    from kaimen.orgs import BUREAU, SCHOOL, Organisation

    url = fresh_database.url("sqlite")
    prefix = f"kaimen-test-{uuid.uuid4().hex}"
    app = make_app(url, REDIS_URL=f"redis://{REDIS[0]}:{REDIS[1]}/{REDIS_DB}",
                   RATELIMIT_KEY_PREFIX=prefix)
    slug = f"sc{uuid.uuid4().hex[:8]}"
    with app.app_context(), system_scope():
        db.create_all()
        bureau = Organisation(kind=BUREAU, slug=f"b{slug}", name="Side Channel County")
        db.session.add(bureau)
        db.session.flush()
        db.session.add(Organisation(kind=SCHOOL, slug=slug, name="Side Channel School",
                                    parent_id=bureau.id))
        db.session.commit()
    store = redis.Redis(host=REDIS[0], port=REDIS[1], db=REDIS_DB)
    sender = {"REMOTE_ADDR": ADDRESS}
    try:
        client = app.test_client()
        for day in (20514, 20515):
            monkeypatch.setattr(addresses, "day_number", lambda day=day: day)
            filed = client.post(f"/s/{slug}/complaints/", environ_base=sender,
                                data=opinion(token=form_token(client, slug)))
            code = receipt_code(filed)
            tracked = client.post("/track", data={"code": code}, environ_base=sender)
            assert tracked.status_code == 200
            assert client.post("/login", data={"username": "nobody", "password": "wrong one"},
                               environ_base=sender).status_code == 200
        keys = [key.decode() for key in store.scan_iter(match=f"*{prefix}*")]
        assert keys, "the rate limits wrote no counter to Redis"
        everything = " ".join(keys)
        values = " ".join(repr(store.get(key)) for key in keys if store.type(key) == b"string")
        # anywhere in this database, not only under this test's prefix
        every_key = b" ".join(store.scan_iter())
        for text in (everything, values, every_key.decode(errors="replace")):
            assert ADDRESS not in text
            assert ADDRESS.replace(".", ":") not in text
        with app.app_context():
            day_one, day_two = address_key(ADDRESS, day=20514), address_key(ADDRESS, day=20515)
        assert day_one != day_two
        # each day's counters are keyed by that day's hash
        assert any(day_one in key and "complaints" in key for key in keys)
        assert any(day_two in key and "complaints" in key for key in keys)
        assert any(day_one in key and "track" in key for key in keys)
        assert any(day_two in key and "login" in key for key in keys)
    finally:
        keys = list(store.scan_iter(match=f"*{prefix}*"))
        if keys:
            store.delete(*keys)
        store.close()
        with app.app_context():
            db.engine.dispose()
        # Flask-Limiter keeps one storage per Limiter object, shared by every app of this
        # process: hand the memory storage back to the others.
        make_app(url)


# --- times to the minute -----------------------------------------------------------------------


class FixedClock(datetime):
    """``datetime`` whose ``now`` is always NOW: a time with seconds and microseconds."""

    @classmethod
    def now(cls, tz=None):  # type: ignore[override]
        return NOW if tz is not None else NOW.replace(tzinfo=None)


@pytest.fixture
def clock(monkeypatch):
    monkeypatch.setattr(timeutil, "datetime", FixedClock)
    return NOW.replace(tzinfo=None)


def to_the_minute(moment: datetime) -> bool:
    return moment.second == 0 and moment.microsecond == 0


def audit_rows(action: str) -> list[AuditEvent]:
    db.session.expire_all()
    return list(db.session.scalars(
        sa.select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)))


def test_an_anonymous_filing_is_stored_to_the_minute(ctx, county, client, clock):
    assert timeutil.utcnow() == clock  # the clock is the fixed one, seconds and all
    data = {**opinion(token=form_token(client)), "attachments": [(io.BytesIO(PNG), "photo.png")]}
    filed = client.post("/s/a1/complaints/", data=data, content_type="multipart/form-data")
    code = receipt_code(filed)
    added = client.post("/s/a1/complaints/track", data={
        "code": code, "action": "information", "text": "补充：收费时间是9月1日。"})
    assert added.status_code == 200
    (case,) = all_cases()
    assert case.anonymous
    stored = [case.created_at, *(e.created_at for e in case.events),
              *(a.created_at for a in case.attachments)]
    receipts = list(db.session.scalars(sa.select(Receipt)))
    stored += [r.created_at for r in receipts]
    stored += [e.created_at for e in audit_rows("complaint.filed")]
    stored += [e.created_at for e in audit_rows("complaint.information")]
    assert len(case.events) == 2
    assert len(case.attachments) == 1
    assert len(receipts) == 1
    assert len(stored) == 7
    assert all(to_the_minute(moment) for moment in stored), stored
    assert all(moment == clock.replace(second=0, microsecond=0) for moment in stored)
    # the chain still verifies: it orders by sequence, never by time
    from kaimen import audit

    assert audit.verify() == []


def test_staff_actions_keep_their_seconds(ctx, county, clock):
    with system_scope():
        case, _code = services.file_case(county.a1, services.Submission(
            kind="complaint", category="fees", subject="食堂饭菜价格上涨",
            description="本学期食堂每餐涨价两元，没有公示。"))
        owner = county.users["a.supervisor"]
        services.accept(case, owner, owner)
        db.session.commit()
    accepted = [e for e in case.events if e.action == "accepted"]
    (audited,) = audit_rows("complaint.accepted")
    for moment in (accepted[0].created_at, audited.created_at):
        assert moment == clock
        assert (moment.second, moment.microsecond) == (42, 123456)
    # while the complainant's own filing lost its seconds
    assert to_the_minute(case.created_at)


def test_a_paper_opinion_entered_by_staff_keeps_its_seconds(ctx, county, clock):
    clerk = county.users["a1.teacher"]
    with system_scope():
        case, _code = services.file_case(county.a1, services.Submission(
            kind="complaint", category="fees", subject="食堂饭菜价格上涨",
            description="本学期食堂每餐涨价两元，没有公示。", channel="hotline"), actor=clerk)
        db.session.commit()
    assert case.created_at == clock
    assert case.events[0].created_at == clock
    (audited,) = audit_rows("complaint.filed")
    assert audited.created_at == clock
