"""The audit log: a hash chain per school and per bureau, tamper detection, CLI, the page."""

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


def chain(org: Organisation) -> list[AuditEvent]:
    """Return the chain of ``org`` (a school's, or a bureau's own), in order."""
    return list(db.session.scalars(
        sa.select(AuditEvent).where(AuditEvent.chain_id == org.id).order_by(AuditEvent.seq)
    ))


def fill(county: Any, count: int = 5) -> list[AuditEvent]:
    """Record ``count`` events in school A1, interleaved with others in A2, in county A's own
    chain and in B1; commit; return A1's chain."""
    for i in range(count):
        audit.record(f"test.step{i + 1}", county.a1, school=county.a1,
                     data={"n": i + 1, "名": "校"})
        if i % 2 == 0:
            audit.record(f"test.sibling{i + 1}", county.a2, school=county.a2)
    audit.record("test.bureau", county.a, bureau=county.a)
    audit.record("test.elsewhere", county.b1, school=county.b1, data={"n": 1})
    db.session.commit()
    return chain(county.a1)


def execute(sql: str, **params: Any) -> None:
    db.session.execute(sa.text(sql), params)
    db.session.commit()


def only_breach() -> audit.Breach:
    breaches = audit.verify()
    assert len(breaches) == 1, breaches
    return breaches[0]


# --- the chain -------------------------------------------------------------------------------


def test_events_are_chained_per_school(ctx, county):
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
    head = db.session.get(AuditHead, county.a1.id)
    assert (head.bureau_id, head.seq, head.last_hash) == (county.a.id, 6, events[-1].hash)
    # the sibling school's events, recorded in between, make a chain of their own
    siblings = chain(county.a2)
    assert [(e.seq, e.action) for e in siblings] == [
        (1, "test.sibling1"), (2, "test.sibling3"), (3, "test.sibling5")]
    assert siblings[0].prev_hash == GENESIS
    assert siblings[1].prev_hash == siblings[0].hash
    sibling_head = db.session.get(AuditHead, county.a2.id)
    assert (sibling_head.bureau_id, sibling_head.seq) == (county.a.id, 3)
    assert sibling_head.last_hash == siblings[-1].hash
    # the bureau's own rows go to the bureau's own chain
    [own] = chain(county.a)
    assert (own.seq, own.action, own.school_id, own.prev_hash) == (
        1, "test.bureau", None, GENESIS)
    assert audit.verify() == []


def test_school_events_go_to_the_school_chain_under_the_county_bureau(ctx, county):
    fill(county, 3)
    a1_events = db.session.scalars(
        sa.select(AuditEvent).where(AuditEvent.school_id == county.a1.id))
    assert {(e.bureau_id, e.chain_id) for e in a1_events} == {(county.a.id, county.a1.id)}
    # county A hangs under the city bureau, but its schools' events stay under county A
    assert chain(county.city) == []
    assert chain(county.b) == []  # county B's own chain: nothing of its own happened
    b_chain = chain(county.b1)
    assert [(e.seq, e.action, e.school_id, e.bureau_id) for e in b_chain] == [
        (1, "test.elsewhere", county.b1.id, county.b.id)]
    assert b_chain[0].prev_hash == GENESIS


def test_actor_and_bureau_events(ctx, county):
    admin = county.users["a.admin"]
    event = audit.record("bureau.updated", county.a, bureau=county.a, actor=admin)
    db.session.commit()
    assert (event.bureau_id, event.chain_id, event.school_id, event.actor_id,
            event.actor_name) == (county.a.id, county.a.id, None, admin.id, "a.admin")
    with pytest.raises(ValueError, match="school or a bureau"):
        audit.record("nowhere.event")
    with pytest.raises(ValueError, match="its school's"):
        audit.record("wrong.bureau", county.a1, school=county.a1, bureau=county.b)


def test_verify_is_empty_on_an_intact_log(ctx, county):
    assert audit.verify() == []
    fill(county, 5)
    assert audit.verify() == []


# --- tampering -------------------------------------------------------------------------------


def test_edited_action_is_detected(ctx, county):
    events = fill(county)
    execute("UPDATE audit_event SET action = 'test.harmless' WHERE id = :id", id=events[2].id)
    breach = only_breach()
    assert (breach.bureau_id, breach.chain_id, breach.seq, breach.event_id) == (
        county.a.id, county.a1.id, 3, events[2].id)
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
    assert (breach.bureau_id, breach.chain_id, breach.seq, breach.event_id) == (
        county.a.id, county.a1.id, 5, None)
    assert "removed" in breach.reason


def test_deleted_every_row_of_a_school_is_detected(ctx, county):
    fill(county)
    execute("DELETE FROM audit_event WHERE chain_id = :c", c=county.a1.id)
    breach = only_breach()
    assert (breach.bureau_id, breach.chain_id, breach.seq) == (county.a.id, county.a1.id, 5)


def test_deleted_every_row_of_a_bureau_is_detected_in_each_chain(ctx, county):
    fill(county)
    execute("DELETE FROM audit_event WHERE bureau_id = :b", b=county.a.id)
    found = {(b.bureau_id, b.chain_id, b.seq) for b in audit.verify()}
    assert found == {(county.a.id, county.a.id, 1), (county.a.id, county.a1.id, 5),
                     (county.a.id, county.a2.id, 3)}


def test_event_moved_to_another_school_chain_is_detected(ctx, county):
    events = fill(county)
    execute("UPDATE audit_event SET chain_id = :c, seq = 4 WHERE id = :id",
            c=county.a2.id, id=events[-1].id)
    found = {(b.chain_id, b.seq, b.event_id) for b in audit.verify()}
    # A1's head still ends at #5; in A2, #4 was hashed as A1's
    assert found == {(county.a1.id, 5, None), (county.a2.id, 4, events[-1].id)}


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
    assert (breach.bureau_id, breach.chain_id, breach.seq) == (county.a.id, county.a1.id, 5)


def test_tampering_in_one_chain_leaves_the_others_intact(ctx, county):
    fill(county)
    b_event = chain(county.b1)[0]
    execute("UPDATE audit_event SET actor_name = 'someone' WHERE id = :id", id=b_event.id)
    breach = only_breach()
    assert (breach.bureau_id, breach.chain_id, breach.seq, breach.event_id) == (
        county.b.id, county.b1.id, 1, b_event.id)


# --- the command -----------------------------------------------------------------------------


def test_cli_verify_intact(app, ctx, county):
    fill(county, 4)
    result = app.test_cli_runner().invoke(args=["kaimen", "audit", "verify"])
    assert result.exit_code == 0, result.output
    assert "intact: 8 events" in result.output  # 4 in A1, 2 in A2, 1 in county A, 1 in B1


def test_cli_verify_names_the_tampered_event(app, ctx, county):
    events = fill(county, 4)
    execute("UPDATE audit_event SET object_id = '0' WHERE id = :id", id=events[1].id)
    result = app.test_cli_runner().invoke(args=["kaimen", "audit", "verify"])
    assert result.exit_code != 0
    assert f"bureau {county.a.id}, school {county.a1.id}, event #2 (id {events[1].id})" in (
        result.output)
    assert "BROKEN" in result.output
    assert "intact" not in result.output


# --- concurrency -----------------------------------------------------------------------------


def record_in(slug: str, action: str, *, chain_now: bool = False) -> Callable[[], None]:
    """Return a write that records ``action`` for the organisation ``slug`` (in the system
    scope); with ``chain_now``, it also chains it, as a commit does, and so holds the head's
    lock to the end of its transaction."""
    def write() -> None:
        org = db.session.scalar(sa.select(Organisation).filter_by(slug=slug))
        where = {"school": org} if org.is_school else {"bureau": org}
        audit.record(action, org, **where)
        if chain_now:
            audit._chain_pending(db.session())
    return write


def test_concurrent_appends_never_fork_a_chain_nor_deadlock(backend, fresh_database):
    """Each commit appends to two of three chains (two schools and their bureau), in an order
    that differs from one writer to the next: the heads are locked in id order all the same."""
    threads_count, per_thread = 4, 15
    app = make_app(fresh_database.url(backend))
    with app.app_context():
        db.create_all()
        bureau = Organisation(kind=BUREAU, slug="busy", name="忙碌教育局")
        db.session.add(bureau)
        db.session.flush()
        schools = [Organisation(kind=SCHOOL, slug=f"busy-{n}", name=f"忙碌学校{n}",
                                parent_id=bureau.id) for n in (1, 2)]
        db.session.add_all(schools)
        db.session.commit()
        org_ids = [schools[0].id, schools[1].id, bureau.id]
    errors: list[BaseException] = []
    start = threading.Barrier(threads_count)

    def append(worker: int) -> None:
        try:
            start.wait()
            for i in range(per_thread):
                with app.app_context(), tenancy.system_scope():
                    first, second = org_ids[(worker + i) % 3], org_ids[(worker + i + 1) % 3]
                    for org_id in (second, first) if worker % 2 else (first, second):
                        org = db.session.get(Organisation, org_id)
                        where = {"school": org} if org.is_school else {"bureau": org}
                        audit.record("busy.event", org, data={"w": worker, "i": i}, **where)
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
            lengths = []
            for org_id in org_ids:
                seqs = list(db.session.scalars(
                    sa.select(AuditEvent.seq).where(AuditEvent.chain_id == org_id)
                    .order_by(AuditEvent.seq)))
                assert seqs == list(range(1, len(seqs) + 1))
                lengths.append(len(seqs))
            assert sum(lengths) == 2 * threads_count * per_thread
            assert all(lengths)
            events = db.session.scalars(sa.select(AuditEvent))
            written = {(e.data["w"], e.data["i"], e.chain_id) for e in events}
            assert len(written) == 2 * threads_count * per_thread
            assert audit.verify() == []
    finally:
        with app.app_context():
            db.engine.dispose()


def test_the_head_is_locked_for_the_commit_only(backend, fresh_database):
    """A writer that recorded an event and is still working does not hold up another writer
    of the same chain."""
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
        db.session.flush()
        school = db.session.scalar(sa.select(Organisation).filter_by(slug="slow-a"))
        audit.record("slow.first", school, school=school)  # the head exists before the race
        db.session.commit()
        school_id = school.id

    errors = one_writer_waits_for_none(app, record_in("slow-a", "slow.long_transaction"),
                                       record_in("slow-a", "slow.quick"))
    try:
        assert errors == []
        with app.app_context(), tenancy.system_scope():
            actions = list(db.session.scalars(
                sa.select(AuditEvent.action).where(AuditEvent.chain_id == school_id)
                .order_by(AuditEvent.seq)))
            # Chained in the order they committed, not the order they were recorded.
            assert actions == ["slow.first", "slow.quick", "slow.long_transaction"]
            assert audit.verify() == []
    finally:
        with app.app_context():
            db.engine.dispose()


@pytest.mark.parametrize("holder", ["slow-b", "slow"])
def test_a_chain_locked_at_commit_holds_up_no_other_school(backend, fresh_database, holder):
    """A writer of school A is not held up by a transaction that holds the head of school B
    (or of the bureau's own chain) at the commit stage: each has a chain of its own."""
    if backend == "sqlite":
        pytest.skip("SQLite lets one writer at a time into the whole database")
    app = make_app(fresh_database.url(backend))
    with app.app_context():
        db.create_all()
        bureau = Organisation(kind=BUREAU, slug="slow", name="慢教育局")
        db.session.add(bureau)
        db.session.flush()
        schools = [Organisation(kind=SCHOOL, slug=slug, name=slug, parent_id=bureau.id)
                   for slug in ("slow-a", "slow-b")]
        db.session.add_all(schools)
        db.session.flush()
        # every head exists before the race: what is tested is the row lock, not its insert
        for org in (bureau, *schools):
            audit.record("slow.first", org, **({"school": org} if org.is_school
                                               else {"bureau": org}))
        db.session.commit()
        holder_id, writer_id = (bureau.id if holder == "slow" else schools[1].id), schools[0].id

    errors = one_writer_waits_for_none(
        app, record_in(holder, "slow.held_at_commit", chain_now=True),
        record_in("slow-a", "slow.quick"))
    try:
        assert errors == []
        with app.app_context(), tenancy.system_scope():
            def actions(chain_id: int) -> list[str]:
                return list(db.session.scalars(sa.select(AuditEvent.action).where(
                    AuditEvent.chain_id == chain_id).order_by(AuditEvent.seq)))
            assert actions(writer_id) == ["slow.first", "slow.quick"]
            assert actions(holder_id) == ["slow.first", "slow.held_at_commit"]
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
    assert [e.action for e in chain(county.a1)] == ["kept.before"]
    assert [e.action for e in chain(county.a2)] == ["kept.savepoint_committed"]
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


def test_page_lists_the_chains_of_the_bureau_and_its_schools_in_time_order(
        app, as_user, county, monkeypatch):
    """Each school has a chain of its own; the bureau's page still reads as one log, newest
    first, whatever the order the events were committed in."""
    with app.app_context(), tenancy.system_scope():
        record_at(monkeypatch, datetime(2025, 4, 3, 8), "order.third", county.a1)
        record_at(monkeypatch, datetime(2025, 4, 1, 8), "order.first", county.a2)
        db.session.commit()
        monkeypatch.setattr(audit, "utcnow", lambda: datetime(2025, 4, 2, 8))
        audit.record("order.second", county.a, bureau=county.a)
        db.session.commit()
        record_at(monkeypatch, datetime(2025, 4, 4, 8), "order.fourth", county.a2)
        db.session.commit()
        chains = {e.action: e.chain_id for e in db.session.scalars(
            sa.select(AuditEvent).where(AuditEvent.action.startswith("order.")))}
        assert chains == {"order.first": county.a2.id, "order.second": county.a.id,
                          "order.third": county.a1.id, "order.fourth": county.a2.id}
    monkeypatch.undo()
    actions = actions_on(as_user("a.supervisor").get("/b/county-a/audit/?action=order."))
    assert actions == ["order.fourth", "order.third", "order.second", "order.first"]


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
