"""The audit log: one hash chain per bureau, tamper detection, the CLI and the supervisor page."""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from datetime import datetime
from typing import Any

import pytest
import sqlalchemy as sa
from conftest import make_app, one_writer_waits_for_none

from kaimen import audit, tenancy
from kaimen.audit import GENESIS, AuditEvent, AuditHead
from kaimen.extensions import db
from kaimen.orgs import BUREAU, SCHOOL, Organisation


def chain(bureau: Organisation) -> list[AuditEvent]:
    return list(db.session.scalars(
        sa.select(AuditEvent).where(AuditEvent.bureau_id == bureau.id).order_by(AuditEvent.seq)
    ))


def fill(county: Any, count: int = 5) -> list[AuditEvent]:
    """Record ``count`` events for schools of county A (and a few elsewhere); commit."""
    for i in range(count):
        school = county.a1 if i % 2 == 0 else county.a2
        audit.record(f"test.step{i + 1}", school, school=school, data={"n": i + 1, "名": "校"})
    audit.record("test.elsewhere", county.b1, school=county.b1, data={"n": 1})
    db.session.commit()
    return chain(county.a)


def execute(sql: str, **params: Any) -> None:
    db.session.execute(sa.text(sql), params)
    db.session.commit()


def only_breach() -> audit.Breach:
    breaches = audit.verify()
    assert len(breaches) == 1, breaches
    return breaches[0]


# --- the chain -------------------------------------------------------------------------------


def test_events_are_chained_per_bureau(ctx, county):
    events = fill(county, 6)
    assert [e.seq for e in events] == [1, 2, 3, 4, 5, 6]
    assert [e.action for e in events] == [f"test.step{i}" for i in range(1, 7)]
    assert events[0].prev_hash == GENESIS
    for before, after in zip(events, events[1:], strict=False):
        assert after.prev_hash == before.hash
    for event in events:
        assert re.fullmatch(r"[0-9a-f]{64}", event.hash)
        assert event.compute_hash() == event.hash
    assert len({e.hash for e in events}) == 6
    assert events[0].data == {"n": 1, "名": "校"}
    assert events[0].object_type == "Organisation"
    assert events[0].object_id == str(county.a1.id)
    assert events[0].actor_name == "public"
    head = db.session.get(AuditHead, county.a.id)
    assert (head.seq, head.last_hash) == (6, events[-1].hash)


def test_school_events_go_to_the_county_bureau_chain(ctx, county):
    fill(county, 3)
    a1_events = db.session.scalars(
        sa.select(AuditEvent).where(AuditEvent.school_id == county.a1.id))
    assert {e.bureau_id for e in a1_events} == {county.a.id}
    # county A hangs under the city bureau, but its schools' events stay in county A's chain
    assert chain(county.city) == []
    b_chain = chain(county.b)
    assert [(e.seq, e.action, e.school_id) for e in b_chain] == [
        (1, "test.elsewhere", county.b1.id)]
    assert b_chain[0].prev_hash == GENESIS


def test_actor_and_bureau_events(ctx, county):
    admin = county.users["a.admin"]
    event = audit.record("bureau.updated", county.a, bureau=county.a, actor=admin)
    db.session.commit()
    assert (event.bureau_id, event.school_id, event.actor_id, event.actor_name) == (
        county.a.id, None, admin.id, "a.admin")
    with pytest.raises(ValueError, match="school or a bureau"):
        audit.record("nowhere.event")


def test_verify_is_empty_on_an_intact_log(ctx, county):
    assert audit.verify() == []
    fill(county, 5)
    assert audit.verify() == []


# --- tampering -------------------------------------------------------------------------------


def test_edited_action_is_detected(ctx, county):
    events = fill(county)
    execute("UPDATE audit_event SET action = 'test.harmless' WHERE id = :id", id=events[2].id)
    breach = only_breach()
    assert (breach.bureau_id, breach.seq, breach.event_id) == (county.a.id, 3, events[2].id)
    assert "changed" in breach.reason


def test_edited_data_is_detected(ctx, county):
    events = fill(county)
    statement = sa.text("UPDATE audit_event SET data = :data WHERE id = :id").bindparams(
        sa.bindparam("data", type_=sa.JSON))
    db.session.execute(statement, {"data": {"n": 99, "名": "校"}, "id": events[1].id})
    db.session.commit()
    stored = sa.select(AuditEvent.data).where(AuditEvent.id == events[1].id)
    assert db.session.scalar(stored) == {"n": 99, "名": "校"}
    breach = only_breach()
    assert (breach.seq, breach.event_id) == (2, events[1].id)
    assert "changed" in breach.reason


def test_deleted_middle_row_is_detected(ctx, county):
    events = fill(county)
    execute("DELETE FROM audit_event WHERE id = :id", id=events[2].id)
    breach = only_breach()
    # the first bad event is the one after the gap
    assert (breach.seq, breach.event_id) == (4, events[3].id)
    assert "#3" in breach.reason


def test_deleted_last_row_is_detected(ctx, county):
    events = fill(county)
    execute("DELETE FROM audit_event WHERE id = :id", id=events[-1].id)
    breach = only_breach()
    assert (breach.bureau_id, breach.seq, breach.event_id) == (county.a.id, 5, None)
    assert "removed" in breach.reason


def test_deleted_every_row_is_detected(ctx, county):
    fill(county)
    execute("DELETE FROM audit_event WHERE bureau_id = :b", b=county.a.id)
    breach = only_breach()
    assert (breach.bureau_id, breach.seq) == (county.a.id, 5)


def test_swapped_rows_are_detected(ctx, county):
    events = fill(county)
    second, third = events[1], events[2]
    # three steps, so that (bureau_id, seq) stays unique after every statement
    execute("UPDATE audit_event SET seq = 0 WHERE id = :id", id=second.id)
    execute("UPDATE audit_event SET seq = 2 WHERE id = :id", id=third.id)
    execute("UPDATE audit_event SET seq = 3 WHERE id = :id", id=second.id)
    breach = only_breach()
    assert (breach.seq, breach.event_id) == (2, third.id)


def test_rehashed_row_breaks_the_link_to_the_next(ctx, county):
    events = fill(county)
    target = events[1]
    target.action = "test.forged"
    forged_hash = target.compute_hash()
    db.session.expire(target)
    execute("UPDATE audit_event SET action = 'test.forged', hash = :h WHERE id = :id",
            h=forged_hash, id=target.id)
    breach = only_breach()
    assert (breach.seq, breach.event_id) == (3, events[2].id)
    assert "does not follow" in breach.reason


def test_row_with_forged_prev_hash_and_hash_is_detected(ctx, county):
    events = fill(county)
    target = events[2]
    target.prev_hash = GENESIS
    forged_hash = target.compute_hash()
    db.session.expire(target)
    execute("UPDATE audit_event SET prev_hash = :p, hash = :h WHERE id = :id",
            p=GENESIS, h=forged_hash, id=target.id)
    breach = only_breach()
    assert (breach.seq, breach.event_id) == (3, target.id)


def test_rehashed_last_row_is_caught_by_the_head(ctx, county):
    events = fill(county)
    target = events[-1]
    target.data = {"n": 0}
    forged_hash = target.compute_hash()
    db.session.expire(target)
    statement = sa.text("UPDATE audit_event SET data = :data, hash = :h WHERE id = :id")
    db.session.execute(statement.bindparams(sa.bindparam("data", type_=sa.JSON)),
                       {"data": {"n": 0}, "h": forged_hash, "id": target.id})
    db.session.commit()
    breach = only_breach()
    assert (breach.bureau_id, breach.seq) == (county.a.id, 5)


def test_tampering_in_one_chain_leaves_the_others_intact(ctx, county):
    fill(county)
    b_event = chain(county.b)[0]
    execute("UPDATE audit_event SET actor_name = 'someone' WHERE id = :id", id=b_event.id)
    breach = only_breach()
    assert (breach.bureau_id, breach.seq, breach.event_id) == (county.b.id, 1, b_event.id)


# --- the command -----------------------------------------------------------------------------


def test_cli_verify_intact(app, ctx, county):
    fill(county, 4)
    result = app.test_cli_runner().invoke(args=["kaimen", "audit", "verify"])
    assert result.exit_code == 0, result.output
    assert "intact: 5 events" in result.output


def test_cli_verify_names_the_tampered_event(app, ctx, county):
    events = fill(county, 4)
    execute("UPDATE audit_event SET object_id = '0' WHERE id = :id", id=events[1].id)
    result = app.test_cli_runner().invoke(args=["kaimen", "audit", "verify"])
    assert result.exit_code != 0
    assert f"event #2 (id {events[1].id})" in result.output
    assert "BROKEN" in result.output
    assert "intact" not in result.output


# --- concurrency -----------------------------------------------------------------------------


def test_concurrent_appends_never_fork_the_chain(backend, fresh_database):
    threads_count, per_thread = 4, 15
    app = make_app(fresh_database.url(backend))
    with app.app_context():
        db.create_all()
        bureau = Organisation(kind=BUREAU, slug="busy", name="忙碌教育局")
        db.session.add(bureau)
        db.session.flush()
        school = Organisation(kind=SCHOOL, slug="busy-school", name="忙碌学校", parent_id=bureau.id)
        db.session.add(school)
        db.session.commit()
        school_id, bureau_id = school.id, bureau.id
    errors: list[BaseException] = []
    start = threading.Barrier(threads_count)

    def append(worker: int) -> None:
        try:
            start.wait()
            for i in range(per_thread):
                with app.app_context(), tenancy.system_scope():
                    school = db.session.get(Organisation, school_id)
                    audit.record("busy.event", school, school=school, data={"w": worker, "i": i})
                    db.session.commit()
        except BaseException as error:  # noqa: BLE001 - reported by the main thread
            errors.append(error)

    workers = [threading.Thread(target=append, args=(n,)) for n in range(threads_count)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=120)
    try:
        assert not any(w.is_alive() for w in workers), "appends did not finish"
        assert errors == []
        with app.app_context(), tenancy.system_scope():
            seqs = list(db.session.scalars(
                sa.select(AuditEvent.seq).where(AuditEvent.bureau_id == bureau_id)
                .order_by(AuditEvent.seq)))
            assert seqs == list(range(1, threads_count * per_thread + 1))
            events = db.session.scalars(sa.select(AuditEvent))
            written = {(e.data["w"], e.data["i"]) for e in events}
            assert len(written) == threads_count * per_thread
            assert audit.verify() == []
    finally:
        with app.app_context():
            db.engine.dispose()


def test_the_head_is_locked_for_the_commit_only(backend, fresh_database):
    """A writer that recorded an event and is still working does not hold up another."""
    if backend == "sqlite":
        pytest.skip("SQLite lets one writer at a time into the whole database")
    app = make_app(fresh_database.url(backend))
    with app.app_context():
        db.create_all()
        bureau = Organisation(kind=BUREAU, slug="slow", name="慢教育局")
        db.session.add(bureau)
        db.session.flush()
        for slug in ("slow-a", "slow-b"):
            db.session.add(Organisation(kind=SCHOOL, slug=slug, name=slug, parent_id=bureau.id))
        audit.record("slow.first", bureau=bureau)  # the head exists before the race
        db.session.commit()

    def record_in(slug: str, action: str) -> Callable[[], None]:
        def write() -> None:
            school = db.session.scalar(sa.select(Organisation).filter_by(slug=slug))
            audit.record(action, school, school=school)
        return write

    errors = one_writer_waits_for_none(app, record_in("slow-a", "slow.long_transaction"),
                                       record_in("slow-b", "slow.quick"))
    try:
        assert errors == []
        with app.app_context(), tenancy.system_scope():
            actions = list(db.session.scalars(
                sa.select(AuditEvent.action).order_by(AuditEvent.seq)))
            # Chained in the order they committed, not the order they were recorded.
            assert actions == ["slow.first", "slow.quick", "slow.long_transaction"]
            assert audit.verify() == []
    finally:
        with app.app_context():
            db.engine.dispose()


def test_events_of_a_rolled_back_savepoint_or_transaction_are_never_chained(ctx, county):
    audit.record("kept.before", county.a1, school=county.a1)
    try:
        with db.session.begin_nested():
            audit.record("dropped.in_savepoint", county.a1, school=county.a1)
            raise RuntimeError("the savepoint fails")
    except RuntimeError:
        pass
    with db.session.begin_nested():
        audit.record("kept.savepoint_committed", county.a2, school=county.a2)
    assert [e.action for e in audit.pending_events()] == ["kept.before",
                                                          "kept.savepoint_committed"]
    db.session.commit()
    audit.record("dropped.rolled_back", county.a1, school=county.a1)
    db.session.rollback()
    assert audit.pending_events() == []
    db.session.commit()
    assert [e.action for e in chain(county.a)] == ["kept.before", "kept.savepoint_committed"]
    assert audit.verify() == []


# --- the supervisor's page ---------------------------------------------------------------------


def record_at(monkeypatch, when: datetime, action: str, school: Organisation, actor=None) -> None:
    monkeypatch.setattr(audit, "utcnow", lambda: when)
    audit.record(action, school, school=school, actor=actor)


def actions_on(response: Any) -> list[str]:
    assert response.status_code == 200
    return re.findall(r'data-action="([^"]+)"', response.get_data(as_text=True))


@pytest.fixture
def logged(app, county, monkeypatch):
    with app.app_context(), tenancy.system_scope():
        teacher = county.users["a1.teacher"]
        record_at(monkeypatch, datetime(2025, 3, 1, 8), "notice.created", county.a1, teacher)
        record_at(monkeypatch, datetime(2025, 3, 2, 8), "notice.deleted", county.a1,
                  county.users["a1.admin"])
        record_at(monkeypatch, datetime(2025, 3, 3, 8), "plugin.enabled", county.a2)
        record_at(monkeypatch, datetime(2025, 3, 4, 8), "notice.secret_b1", county.b1)
        db.session.commit()
    monkeypatch.undo()
    return county


def test_page_lists_the_bureaus_schools_only(as_user, logged):
    client = as_user("a.supervisor")
    actions = actions_on(client.get("/b/county-a/audit/"))
    assert {"notice.created", "notice.deleted", "plugin.enabled"} <= set(actions)
    assert "notice.secret_b1" not in actions
    # a school of another bureau in the filter does not widen the page
    assert "notice.secret_b1" not in actions_on(client.get("/b/county-a/audit/?school=b1"))


def test_other_bureau_sees_only_its_own(as_user, logged):
    client = as_user("b.supervisor")
    actions = actions_on(client.get("/b/county-b/audit/"))
    assert "notice.secret_b1" in actions
    assert not {"notice.created", "notice.deleted", "plugin.enabled"} & set(actions)
    assert client.get("/b/county-a/audit/").status_code == 404


def test_city_bureau_sees_the_schools_below_it(as_user, logged):
    actions = actions_on(as_user("city.supervisor").get("/b/city/audit/"))
    assert {"notice.created", "plugin.enabled"} <= set(actions)
    assert "notice.secret_b1" not in actions


def test_page_filters(as_user, logged):
    client = as_user("a.supervisor")
    by_school = actions_on(client.get("/b/county-a/audit/?school=a2"))
    assert by_school == ["plugin.enabled"]
    by_action = actions_on(client.get("/b/county-a/audit/?action=notice."))
    assert sorted(by_action) == ["notice.created", "notice.deleted"]
    by_actor = actions_on(client.get("/b/county-a/audit/?actor=A1.Teacher"))
    assert by_actor == ["notice.created"]
    by_date = actions_on(client.get("/b/county-a/audit/?since=2025-03-02&until=2025-03-02"))
    assert by_date == ["notice.deleted"]
    since = actions_on(client.get("/b/county-a/audit/?since=2025-03-02&action=notice"))
    assert since == ["notice.deleted"]
    until = actions_on(client.get("/b/county-a/audit/?until=2025-03-01&school=a1"))
    assert until == ["notice.created"]
    combined = actions_on(client.get("/b/county-a/audit/?school=a1&action=plugin."))
    assert combined == []


def test_page_survives_bad_filters(as_user, logged):
    client = as_user("a.supervisor")
    for query in ("since=2025-13-45", "until=yesterday", "page=-3", "page=abc",
                  "action=" + "x" * 500, "school=%00", "actor=%E4%BD%A0"):
        response = client.get(f"/b/county-a/audit/?{query}")
        assert response.status_code == 200, query


def test_page_paginates(app, as_user, county):
    with app.app_context(), tenancy.system_scope():
        for i in range(1, 61):
            audit.record(f"bulk.e{i:03d}", county.a1, school=county.a1)
        db.session.commit()
    client = as_user("a.supervisor")
    first = actions_on(client.get("/b/county-a/audit/?action=bulk."))
    second = actions_on(client.get("/b/county-a/audit/?action=bulk.&page=2"))
    assert first == [f"bulk.e{i:03d}" for i in range(60, 10, -1)]
    assert second == [f"bulk.e{i:03d}" for i in range(10, 0, -1)]
    # the pager keeps the filter in its links
    assert "action=bulk." in client.get("/b/county-a/audit/?action=bulk.").get_data(as_text=True)


@pytest.mark.parametrize(("username", "statuses"), [
    ("a1.admin", {403, 404}),
    ("a1.teacher", {403, 404}),
    ("a.leader", {403}),
    ("a.unit", {403}),
])
def test_page_refuses_others(as_user, logged, username, statuses):
    response = as_user(username).get("/b/county-a/audit/")
    assert response.status_code in statuses
    assert "notice.created" not in response.get_data(as_text=True)


def test_page_needs_a_login(client, logged):
    response = client.get("/b/county-a/audit/")
    assert response.status_code == 302
    assert "/login" in response.headers["Location"]


def test_bureau_admin_reads_the_page(as_user, logged):
    assert "notice.created" in actions_on(as_user("a.admin").get("/b/county-a/audit/"))
