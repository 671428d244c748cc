"""A unit that packages schools cannot be deleted: the page lists the schools it packages."""

from __future__ import annotations

import sqlalchemy as sa
from conftest import login

from blueprints.liaison import services
from kaimen.auth.models import RoleGrant
from kaimen.extensions import db
from kaimen.orgs import Unit


def _url(unit) -> str:
    return f"/b/county-a/admin/units/{unit.id}/delete"


def _without_staff(county) -> None:
    """Leave the unit without staff, so only the packaging holds it."""
    db.session.execute(sa.delete(RoleGrant).where(RoleGrant.unit_id == county.unit.id))
    db.session.commit()


def test_a_packaging_unit_is_refused_with_its_schools(client, county, years):
    _without_staff(county)
    unit = county.unit
    services.set_assignments(county.a, years.current, set(),
                             {(county.a1.id, unit.id), (county.a2.id, unit.id)})
    db.session.commit()
    login(client, "a.admin")
    page = client.get(_url(unit))
    assert page.status_code == 200
    assert ("It packages 2 schools this school year: a1学校 and a2学校. Take it off in the "
            "assignment grid first.") in page.text
    assert "Delete the unit" not in page.text
    response = client.post(_url(unit))
    assert response.status_code == 409
    assert "a1学校 and a2学校" in response.text
    db.session.expire_all()
    assert db.session.get(Unit, unit.id) is not None


def test_once_taken_off_the_grid_the_unit_can_go(client, county, years):
    _without_staff(county)
    unit = county.unit
    services.set_assignments(county.a, years.current, set(), {(county.a1.id, unit.id)})
    db.session.commit()
    services.set_assignments(county.a, years.current, set(), set())
    db.session.commit()
    login(client, "a.admin")
    assert "Delete the unit" in client.get(_url(unit)).text
    unit_id, url = unit.id, _url(unit)
    assert client.post(url).status_code == 302
    db.session.expire_all()
    assert db.session.get(Unit, unit_id) is None


def test_an_earlier_years_packaging_keeps_the_unit(client, county, years):
    _without_staff(county)
    unit = county.unit
    services.set_assignments(county.a, years.before, set(), {(county.a1.id, unit.id)})
    db.session.commit()
    login(client, "a.admin")
    response = client.post(_url(unit))
    assert response.status_code == 409
    assert (f"It packages schools in school year {years.before.name}; those assignments stay "
            "on record.") in response.text
    assert "this school year" not in response.text
    db.session.expire_all()
    assert db.session.get(Unit, unit.id) is not None
