"""Plugins: discovery through entry points, mounting, per-school switches and their effects."""

from __future__ import annotations

import re
from importlib.metadata import entry_points

import kaimen_noticeboard
import pytest
import sqlalchemy as sa
from conftest import Factory, login, make_app
from kaimen_noticeboard import Notice

from kaimen import plugins, tenancy
from kaimen.audit import AuditEvent
from kaimen.extensions import db
from kaimen.plugins import PluginSetting


def add_notices(county, a1=2, a2=1):
    for school, count in ((county.a1, a1), (county.a2, a2)):
        for n in range(count):
            db.session.add(Notice(school_id=school.id, title=f"{school.slug} notice {n}"))
    db.session.commit()


# Other installed plugins add columns of their own to the one umbrella table: these are the
# notice board's (a school where it is switched off has empty cells in them).
UMBRELLA_TABLE = re.compile(r'<table id="umbrella" class="umbrella">(.*?)</table>', re.S)
SCHOOL_ROW = re.compile(
    r'<tr[^>]*><th scope="row"><a href="(/s/[^/"]+/)(?:desk/)?">(.*?)</tr>', re.S)
NOTICES_CELL = re.compile(r'<td data-metric="Notices">([^<]*)</td>')


def umbrella_table(page: str) -> str:
    (table,) = UMBRELLA_TABLE.findall(page)
    return table


def totals(page: str) -> list[str]:
    """Return the cells of the notice board's columns in the total row."""
    (foot,) = re.findall(r"<tfoot>(.*?)</tfoot>", umbrella_table(page), re.S)
    return NOTICES_CELL.findall(foot)


def metric_rows(page: str) -> list[str]:
    """Return the links of the schools with notice board figures on the umbrella view."""
    body = umbrella_table(page).split("<tfoot>")[0]
    return sorted(href for href, row in SCHOOL_ROW.findall(body)
                  if any(cell != "" for cell in NOTICES_CELL.findall(row)))


def switches(app, county, *off: tuple) -> dict[str, str]:
    """Return the plugins form with every installed plugin on for a1 and a2 except ``off``.

    Unchecked boxes are not sent, so a form that leaves a plugin out switches it off.
    """
    return {f"{school.id}:{name}": "on" for school in (county.a1, county.a2)
            for name in app.extensions["kaimen"].plugins if (school, name) not in off}


def assert_switched_off_for_a1(app, county) -> None:
    public = app.test_client()
    assert public.get("/s/a1/noticeboard/").status_code == 404
    assert public.get("/s/a2/noticeboard/").status_code == 200
    assert public.get("/s/b1/noticeboard/").status_code == 200
    a1_page = public.get("/s/a1/").get_data(as_text=True)
    a2_page = public.get("/s/a2/").get_data(as_text=True)
    assert "/s/a1/noticeboard/" not in a1_page  # nav item gone
    assert "public notices" not in a1_page  # panel gone
    assert 'href="/s/a2/noticeboard/"' in a2_page
    assert "2 public notices" not in a2_page
    assert "1 public notices" in a2_page
    staff = app.test_client()
    login(staff, "a1.admin")
    assert staff.get("/s/a1/noticeboard/staff").status_code == 404
    assert staff.post("/s/a1/noticeboard/new", data={"title": "x"}).status_code == 404
    supervisor = app.test_client()
    login(supervisor, "a.supervisor")
    bureau_page = supervisor.get("/b/county-a/").get_data(as_text=True)
    assert metric_rows(bureau_page) == ["/s/a2/"]
    assert totals(bureau_page) == ["1"]


def test_plugin_is_discovered_through_its_entry_point(app):
    modules = plugins.discover()
    assert kaimen_noticeboard in modules
    assert app.extensions["kaimen"].plugins["noticeboard"] is kaimen_noticeboard
    assert "noticeboard.post" in app.extensions["kaimen"].permissions
    assert plugins.discover(["noticeboard"]) == [m for m in modules if m is not kaimen_noticeboard]


def test_plugin_routes_are_mounted_under_the_prefixes(app, county, ctx):
    rules = {rule.rule: rule.endpoint for rule in app.url_map.iter_rules()}
    assert rules["/s/<school>/noticeboard/"] == "noticeboard.index"
    assert rules["/b/<bureau>/noticeboard/"] == "noticeboard_bureau.bureau_index"
    add_notices(county)
    client = app.test_client()
    page = client.get("/s/a1/noticeboard/").get_data(as_text=True)
    assert "a1 notice 0" in page
    assert "a2 notice 0" not in page
    assert client.get("/s/unknown/noticeboard/").status_code == 404


def test_switched_on_plugin_shows_everywhere(app, county, ctx):
    add_notices(county)
    client = app.test_client()
    page = client.get("/s/a1/").get_data(as_text=True)
    assert 'href="/s/a1/noticeboard/"' in page
    assert "2 public notices" in page
    login(client, "a.supervisor")
    page = client.get("/b/county-a/").get_data(as_text=True)
    assert metric_rows(page) == ["/s/a1/", "/s/a2/"]
    assert totals(page) == ["3"]


def test_bureau_admin_switches_a_plugin_off_for_one_school(app, county, ctx):
    add_notices(county)
    admin = app.test_client()
    login(admin, "a.admin")
    page = admin.get("/b/county-a/admin/plugins").get_data(as_text=True)
    assert f'name="{county.a1.id}:noticeboard"' in page
    assert f'name="{county.b1.id}:noticeboard"' not in page  # another county's school
    # Unchecked boxes are not sent: a1's notice board off, everything else on.
    response = admin.post("/b/county-a/admin/plugins",
                          data=switches(app, county, (county.a1, "noticeboard")))
    assert response.status_code == 302
    assert_switched_off_for_a1(app, county)
    page = admin.get("/b/county-a/admin/plugins").get_data(as_text=True)
    assert f'name="{county.a1.id}:noticeboard" aria-label="a1学校 — Notice board" >' in page
    assert f'name="{county.a2.id}:noticeboard" aria-label="a2学校 — Notice board" checked' in page
    db.session.expire_all()
    disabled = sa.select(AuditEvent).where(AuditEvent.action == "plugin.disabled")
    (event,) = db.session.scalars(disabled)
    assert event.school_id == county.a1.id
    assert event.data == {"plugin": "noticeboard"}
    # Switching it on again brings it back.
    admin.post("/b/county-a/admin/plugins", data=switches(app, county))
    assert app.test_client().get("/s/a1/noticeboard/").status_code == 200
    assert db.session.scalar(sa.select(sa.func.count()).select_from(AuditEvent)
                             .where(AuditEvent.action == "plugin.enabled")) == 1


def test_only_bureau_admins_switch_plugins(app, county):
    for username in ("a.supervisor", "a1.admin"):
        client = app.test_client()
        login(client, username)
        assert client.post("/b/county-a/admin/plugins", data={}).status_code in (403, 404)
    client = app.test_client()
    login(client, "b1.admin")
    assert client.post("/b/county-a/admin/plugins", data={}).status_code == 404
    assert app.test_client().get("/s/a1/noticeboard/").status_code == 200


def test_cli_switches_a_plugin_off_and_on(app, county, ctx):
    add_notices(county)
    runner = app.test_cli_runner()
    result = runner.invoke(args=["kaimen", "plugins", "disable", "a1", "noticeboard"])
    assert result.exit_code == 0, result.output
    assert "noticeboard disabled for a1" in result.output
    assert_switched_off_for_a1(app, county)
    setting = db.session.scalar(
        sa.select(PluginSetting).where(PluginSetting.org_id == county.a1.id))
    assert setting.enabled is False
    result = runner.invoke(args=["kaimen", "plugins", "enable", "a1", "noticeboard"])
    assert result.exit_code == 0, result.output
    assert app.test_client().get("/s/a1/noticeboard/").status_code == 200


@pytest.mark.parametrize(("args", "message"), [
    (["a1", "nosuch"], "no plugin 'nosuch' is installed"),
    (["nowhere", "noticeboard"], "no school 'nowhere'"),
])
def test_cli_names_unknown_plugins_and_schools(app, county, ctx, args, message):
    result = app.test_cli_runner().invoke(args=["kaimen", "plugins", "disable", *args])
    assert result.exit_code == 1
    assert message in result.output
    assert db.session.scalar(sa.select(sa.func.count()).select_from(PluginSetting)) == 0


def test_cli_lists_plugins_and_runs_the_plugins_command(app, county, ctx):
    add_notices(county, a1=2, a2=3)
    runner = app.test_cli_runner()
    listing = runner.invoke(args=["kaimen", "plugins", "list"])
    assert listing.exit_code == 0
    assert "noticeboard" in listing.output
    assert "kaimen_noticeboard" in listing.output
    assert "noticeboard-count" in runner.invoke(args=["kaimen", "--help"]).output
    count = runner.invoke(args=["kaimen", "noticeboard-count"])
    assert count.exit_code == 0, count.output
    assert count.output.strip() == "5"


def test_platform_runs_without_a_disabled_plugin(backend, fresh_database, monkeypatch):
    # Switch off every installed plugin (and a name nobody installed): the core runs alone.
    installed = [entry.name for entry in entry_points(group=plugins.ENTRY_POINT_GROUP)]
    assert "noticeboard" in installed
    monkeypatch.setenv("KAIMEN_PLUGINS_DISABLED", ", ".join([*installed, "other"]))
    app = make_app(fresh_database.url(backend))
    try:
        assert app.extensions["kaimen"].plugins == {}
        assert "noticeboard.post" not in app.extensions["kaimen"].permissions
        assert not [r.rule for r in app.url_map.iter_rules() if "noticeboard" in r.rule]
        assert not [name for name in app.blueprints if name.startswith("noticeboard")]
        with app.app_context(), tenancy.system_scope():
            db.create_all()
            make = Factory()
            bureau = make.bureau("solo")
            make.school("s1", bureau)
            make.user("solo.admin", "bureau_admin", bureau)
            db.session.commit()
        client = app.test_client()
        page = client.get("/s/s1/")
        assert page.status_code == 200
        assert "public notices" not in page.get_data(as_text=True)
        assert client.get("/s/s1/noticeboard/").status_code == 404
        login(client, "solo.admin")
        bureau_page = client.get("/b/solo/", headers={"Accept-Language": "en"})
        assert bureau_page.status_code == 200
        assert "No feature reports figures yet" in bureau_page.get_data(as_text=True)
        features = client.get("/b/solo/admin/plugins", headers={"Accept-Language": "en"})
        assert "No features are installed." in features.get_data(as_text=True)
    finally:
        with app.app_context():
            db.session.remove()
            db.engine.dispose()
