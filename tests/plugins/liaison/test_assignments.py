"""Assignments per school year: the grid, the coverage check, copying, the tenants file."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from conftest import login

from blueprints.liaison import services
from blueprints.liaison.models import LinkAssignment, PackageAssignment
from kaimen import provisioning
from kaimen.audit import AuditEvent
from kaimen.extensions import db
from kaimen.provisioning import TenantFileError
from kaimen.tenancy import all_schools


def grid_url(year):
    return f"/b/county-a/liaison/years/{year.id}/assignments"


def save_url(year):
    return f"/b/county-a/liaison/years/{year.id}/assignments/save"


def rows(model):
    return db.session.scalars(all_schools(sa.select(model).order_by(model.id))).all()


def test_the_admin_saves_the_grid_and_coverage_goes_green(client, county, years):
    login(client, "a.admin")
    page = client.get(grid_url(years.current))
    assert page.status_code == 200
    assert "No leader" in page.text
    assert "No unit" in page.text
    leader, unit = county.users["a.leader"], county.unit
    form = {f"link-{county.a1.id}-{leader.id}": "1", f"link-{county.a2.id}-{leader.id}": "1",
            f"package-{county.a1.id}-{unit.id}": "1", f"package-{county.a2.id}-{unit.id}": "1"}
    response = client.post(save_url(years.current), data=form)
    assert response.status_code == 302
    page = client.get(grid_url(years.current))
    assert "Complete: every school has one linked leader" in page.text
    assert {(r.school_id, r.user_id) for r in rows(LinkAssignment)} == {
        (county.a1.id, leader.id), (county.a2.id, leader.id)}
    events = db.session.scalars(all_schools(sa.select(AuditEvent).where(
        AuditEvent.action == "liaison.assignments_changed").order_by(AuditEvent.id))).all()
    assert [e.school_id for e in events] == [county.a1.id, county.a2.id]
    assert events[0].data["leaders_added"] == ["a.leader"]
    assert events[0].data["units_added"] == ["jiaoyan"]
    # Unticking a box removes that assignment, and the audit says so.
    del form[f"package-{county.a2.id}-{unit.id}"]
    client.post(save_url(years.current), data=form)
    assert len(rows(PackageAssignment)) == 1
    last = db.session.scalar(all_schools(sa.select(AuditEvent).order_by(AuditEvent.id.desc())))
    assert last.data == {"school_year": years.current.name, "units_removed": ["jiaoyan"]}
    assert "No unit" in client.get(grid_url(years.current)).text


def test_an_assignment_to_another_bureaus_school_is_refused(client, county, years):
    login(client, "a.admin")
    leader = county.users["a.leader"]
    response = client.post(save_url(years.current), data={
        f"link-{county.a1.id}-{leader.id}": "1", f"link-{county.b1.id}-{leader.id}": "1"})
    assert response.status_code == 404
    assert rows(LinkAssignment) == []


def test_a_supervisor_reads_the_grid_but_cannot_save_it(client, county, years):
    login(client, "a.supervisor")
    page = client.get(grid_url(years.current))
    assert page.status_code == 200
    assert "Save assignments" not in page.text
    leader = county.users["a.leader"]
    response = client.post(save_url(years.current),
                           data={f"link-{county.a1.id}-{leader.id}": "1"})
    assert response.status_code == 403
    assert rows(LinkAssignment) == []


def test_copy_from_the_previous_year_keeps_earlier_years_readable(client, county, years, ctx):
    leader, unit = county.users["a.leader"], county.unit
    services.set_assignments(county.a, years.before, {(county.a1.id, leader.id)},
                             {(county.a1.id, unit.id), (county.a2.id, unit.id)})
    db.session.commit()
    login(client, "a.admin")
    assert "Copy assignments from" in client.get(grid_url(years.current)).text
    client.post(f"/b/county-a/liaison/years/{years.current.id}/copy")
    grid = services.load_grid(years.current, [county.a1.id, county.a2.id])
    assert grid.links() == {(county.a1.id, leader.id)}
    assert grid.packages() == {(county.a1.id, unit.id), (county.a2.id, unit.id)}
    # The earlier year is untouched and still shown.
    old = client.get(grid_url(years.before))
    assert old.status_code == 200
    assert years.before.name in old.text
    assert len(services.load_grid(years.before, [county.a1.id, county.a2.id]).packages()) == 2
    # The first year has nothing to copy from.
    response = client.post(f"/b/county-a/liaison/years/{years.before.id}/copy",
                           follow_redirects=True)
    assert "no earlier school year" in response.text


def test_another_bureaus_year_is_not_found(client, county, years):
    login(client, "b.admin")
    assert client.get(f"/b/county-b/liaison/years/{years.current.id}/assignments").status_code \
        == 404


def test_coverage_flags_gaps_doubles_and_heavy_loads(ctx, county, make):
    leaders = [make.user(f"l{i}", "leader", county.a) for i in range(3)]
    units = [make.unit(f"u{i}", county.a) for i in range(3)]
    schools = list(range(1, 15))
    grid = services.Grid()
    for sid in schools[:12]:
        grid.leaders[sid].append(leaders[0])  # twelve schools: heavy
    grid.leaders[1].append(leaders[1])  # a double
    grid.leaders[13].append(leaders[2])
    for sid in schools[:13]:
        grid.units[sid].append(units[0])  # thirteen of fifteen packagings: heavy
    grid.units[1].append(units[1])
    grid.units[2].append(units[2])
    check = services.coverage(grid, schools, leaders, units)
    assert check.no_leader == [14]
    assert check.several_leaders == [1]
    assert check.no_unit == [14]
    assert check.heavy_leaders == {leaders[0].id}
    assert check.heavy_units == {units[0].id}
    assert not check.complete
    assert check.flags(1) == ["several_leaders"]
    assert check.flags(2) == []


SECTION = """
[[liaison_link]]
bureau = "county-a"
school_year = "{year}"
leader = "{leader}"
schools = ["a1", "a2"]

[[liaison_package]]
bureau = "county-a"
school_year = "{year}"
unit = "{unit}"
schools = ["{school}"]
"""


def test_the_tenants_file_sets_assignments(ctx, county, years, tmp_path):
    path = tmp_path / "liaison.toml"
    path.write_text(SECTION.format(year=years.current.name, leader="a.leader", unit="jiaoyan",
                                   school="a2"), encoding="utf-8")
    report = provisioning.load(path)
    assert report.updated == 3
    grid = services.load_grid(years.current, [county.a1.id, county.a2.id])
    leader = county.users["a.leader"]
    assert grid.links() == {(county.a1.id, leader.id), (county.a2.id, leader.id)}
    assert grid.packages() == {(county.a2.id, county.unit.id)}
    assert provisioning.load(path).updated == 0  # a second load changes nothing


@pytest.mark.parametrize(("field", "values", "message"), [
    ("liaison_link[0].leader", {"leader": "nobody"}, "no leader 'nobody'"),
    ("liaison_package[0].unit", {"unit": "nounit"}, "no unit 'nounit'"),
    ("liaison_package[0].schools[0]", {"school": "nosuch"}, "no school 'nosuch'"),
    ("liaison_package[0].schools[0]", {"school": "b1"}, "not under bureau 'county-a'"),
])
def test_a_bad_tenants_entry_names_it_and_loads_nothing(ctx, county, years, tmp_path,
                                                       field, values, message):
    path = tmp_path / "bad.toml"
    fields = {"year": years.current.name, "leader": "a.leader", "unit": "jiaoyan",
              "school": "a2"} | values
    path.write_text(SECTION.format(**fields), encoding="utf-8")
    with pytest.raises(TenantFileError) as error:
        provisioning.load(path)
    assert f"{field}: " in str(error.value)
    assert message in str(error.value)
    db.session.rollback()
    assert rows(LinkAssignment) == []
    assert rows(PackageAssignment) == []
