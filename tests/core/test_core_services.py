"""The core services plugins lean on: holders, call_per_plugin, audited switches, one user
service for the admin page and the command line, the page rule and the criteria listener."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import sqlalchemy as sa
from conftest import login

from kaimen import call_per_plugin, count_holders, holders, plugins
from kaimen.audit import AuditEvent
from kaimen.auth.models import User, find_user
from kaimen.extensions import db

ROOT = Path(__file__).resolve().parents[2]


def names(users):
    return [u.username for u in users]


# --- holders ------------------------------------------------------------------------------------


def test_holders_reach_down_from_bureaus_like_user_can(app, county, ctx):
    # school.users: school_admin and bureau_admin.
    assert names(holders("school.users", county.a1)) == ["a.admin", "a1.admin"]
    assert names(holders("school.users", county.a1, reach="own")) == ["a1.admin"]
    assert names(holders("school.users", county.a1, reach="above")) == ["a.admin"]
    # audit.view: bureau_admin and supervisor, at county A and the city above it.
    assert names(holders("audit.view", county.a2, reach="above")) == [
        "a.admin", "a.supervisor", "city.supervisor"]
    assert "b.supervisor" not in names(holders("audit.view", county.a1))


def test_holders_leave_out_disabled_accounts(app, county, ctx):
    county.users["a1.admin"].active = False
    db.session.flush()
    assert names(holders("school.users", county.a1, reach="own")) == []


def test_holders_refuse_an_unknown_reach(app, county, ctx):
    with pytest.raises(ValueError, match="reach"):
        holders("school.users", county.a1, reach="sideways")


def test_count_holders_counts_each_school_in_one_query(app, county, ctx, make):
    make.user("a1.teacher2", "teacher", county.a1)
    make.user("a2.teacher", "teacher", county.a2)
    # pledges.sign is held by teachers (the pledge board's permission).
    assert count_holders("pledges.sign", [county.a1, county.a2, county.b1]) == {
        county.a1.id: 2, county.a2.id: 1}


def test_count_holders_is_kept_until_people_change(app, county, ctx, make):
    counts: list[str] = []

    def record(_conn, _cursor, statement, *_args):
        if "role_grant" in statement:
            counts.append(statement)

    def holders_now():
        counts.clear()
        sa.event.listen(db.engine, "before_cursor_execute", record)
        try:
            return count_holders("pledges.sign", [county.a1, county.a2]), len(counts)
        finally:
            sa.event.remove(db.engine, "before_cursor_execute", record)

    teacher = make.user("a1.teacher2", "teacher", county.a1)
    db.session.commit()
    assert holders_now() == ({county.a1.id: 2}, 1)
    assert holders_now() == ({county.a1.id: 2}, 0)  # kept: no count sent

    make.user("a2.teacher", "teacher", county.a2)  # not yet committed: counted, not kept
    assert holders_now() == ({county.a1.id: 2, county.a2.id: 1}, 1)
    db.session.commit()
    assert holders_now() == ({county.a1.id: 2, county.a2.id: 1}, 1)
    assert holders_now()[1] == 0

    teacher.active = False
    db.session.commit()
    assert holders_now() == ({county.a1.id: 1, county.a2.id: 1}, 1)


# --- call_per_plugin and switches ---------------------------------------------------------------


def test_call_per_plugin_passes_only_the_schools_where_each_plugin_is_on(app, county, ctx):
    seen: dict[str, list[str]] = {}
    manager = plugins.state().manager

    class Spy:
        @staticmethod
        def kaimen_report_counts(schools, references):
            seen["spy"] = [s.slug for s in schools]
            return {"x": (1, 0)}

    from kaimen import hookimpl

    Spy.kaimen_report_counts = hookimpl(Spy.kaimen_report_counts)
    manager.register(Spy, name="noticeboard-spy")
    try:
        plugins.state().plugins["noticeboard-spy"] = Spy  # type: ignore[assignment]
        plugins.set_enabled(county.a2, "noticeboard-spy", False)
        answers = call_per_plugin("kaimen_report_counts", [county.a1, county.a2], references=[])
    finally:
        manager.unregister(Spy)
        plugins.state().plugins.pop("noticeboard-spy")
    assert seen["spy"] == ["a1"]
    assert {"x": (1, 0)} in answers


def test_switching_a_plugin_is_audited_once_by_the_service(app, county, ctx):
    def events():
        db.session.commit()  # events are chained into the log at commit
        return db.session.scalars(sa.select(AuditEvent).where(
            AuditEvent.action.in_(["plugin.enabled", "plugin.disabled"]))).all()

    assert plugins.set_enabled(county.a1, "noticeboard", False, actor=county.users["a.admin"])
    assert not plugins.set_enabled(county.a1, "noticeboard", False)  # no change, no event
    (event,) = events()
    assert (event.action, event.actor_name, event.data) == (
        "plugin.disabled", "a.admin", {"plugin": "noticeboard"})
    with pytest.raises(KeyError):
        plugins.set_enabled(county.a1, "nosuch", True)


# --- one way to create a user -----------------------------------------------------------------


GOOD_PASSWORD = "a fine long password"


def run_create(app, *args, password=GOOD_PASSWORD):
    return app.test_cli_runner().invoke(
        args=["kaimen", "users", "create", *args], input=password + "\n")


def test_cli_creates_a_user_through_the_service_with_an_audit_event(app, county, ctx):
    result = run_create(app, "New.Teacher", "--name", "新老师", "--role", "teacher",
                        "--org", "a1")
    assert result.exit_code == 0, result.output
    user = find_user("new.teacher")
    assert user is not None
    assert user.check_password(GOOD_PASSWORD)
    assert [(g.role, g.org.slug) for g in user.grants] == [("teacher", "a1")]
    event = db.session.scalar(sa.select(AuditEvent).where(AuditEvent.action == "user.created"))
    assert event.data == {"role": "teacher", "org": "a1"}


@pytest.mark.parametrize(("args", "password", "message"), [
    (["x.short", "--name", "X", "--role", "teacher", "--org", "a1"], "short", "10"),
    (["a1.admin", "--name", "X", "--role", "teacher", "--org", "a1"], "a fine long password",
     None),
    (["x.unit", "--name", "X", "--role", "unit_staff", "--org", "county-a"],
     "a fine long password", "--unit"),
    (["x.nowhere", "--name", "X", "--role", "teacher", "--org", "county-a"],
     "a fine long password", "no school"),
])
def test_cli_refuses_what_the_admin_page_refuses(app, county, ctx, args, password, message):
    before = db.session.scalar(sa.select(sa.func.count()).select_from(User))
    result = run_create(app, *args, password=password)
    assert result.exit_code != 0
    if message:
        assert message in result.output
    db.session.rollback()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(User)) == before


def test_admin_page_and_cli_share_one_service():
    """Both paths reach ``add_user``; neither builds a User itself."""
    cli = (ROOT / "platform/kaimen/cli.py").read_text(encoding="utf-8")
    views = (ROOT / "platform/kaimen/admin/views.py").read_text(encoding="utf-8")
    for source in (cli, views):
        assert not re.search(r"(?<![A-Za-z])User\(", source)
        assert "set_password(" not in source
    assert "add_user(" in cli


# --- the page rule ------------------------------------------------------------------------------


def test_staff_pages_are_never_stored(app, county):
    client = app.test_client()
    login(client, "a1.admin")
    assert client.get("/s/a1/admin/").headers.get("Cache-Control") == "no-store"


def test_public_pages_for_visitors_may_be_cached_but_not_for_staff(app, county):
    visitor = app.test_client()
    page = visitor.get("/s/a1/")
    assert page.status_code == 200
    assert page.headers.get("Cache-Control") != "no-store"
    staff = app.test_client()
    login(staff, "a1.admin")
    assert staff.get("/s/a1/").headers.get("Cache-Control") == "no-store"


def test_static_files_stay_cacheable_for_everyone(app, county):
    client = app.test_client()
    login(client, "a1.admin")
    response = client.get("/static/kaimen.css")
    response.close()
    assert response.status_code == 200
    assert response.headers.get("Cache-Control") != "no-store"


# --- one listener -------------------------------------------------------------------------------


def test_only_the_core_listens_to_every_statement():
    """Plugins add criteria through ``kaimen_statement_criteria``, never their own listener."""
    listeners = [
        path.relative_to(ROOT).as_posix()
        for folder in ("platform", "blueprints")
        for path in (ROOT / folder).rglob("*.py")
        if re.search(r"""["']do_orm_execute["']""", path.read_text(encoding="utf-8"))
    ]
    assert listeners == ["platform/kaimen/tenancy.py"]
