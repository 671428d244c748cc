"""Deleting a bureau's department or unit: confirmed, audited, refused while something holds it."""

from __future__ import annotations

import sqlalchemy as sa
from conftest import login

from kaimen.audit import AuditEvent
from kaimen.auth.models import RoleGrant
from kaimen.extensions import db
from kaimen.orgs import Unit

EN = {"Accept-Language": "en"}


def _url(unit) -> str:
    return f"/b/county-a/admin/units/{unit.id}/delete"


def test_the_admin_confirms_and_deletes_an_unused_unit(client, county, make):
    spare = make.unit("spare", county.a)
    db.session.commit()
    spare_id = spare.id
    login(client, "a.admin")
    listing = client.get("/b/county-a/admin/units", headers=EN)
    assert listing.status_code == 200
    assert "spare股" in listing.text
    assert _url(spare) in listing.text
    confirm = client.get(_url(spare), headers=EN)
    assert confirm.status_code == 200
    assert "Delete the unit" in confirm.text
    assert db.session.get(Unit, spare_id) is not None  # asking changes nothing
    response = client.post(_url(spare), headers=EN, follow_redirects=True)
    assert response.status_code == 200
    assert "The unit spare股 was deleted." in response.text
    db.session.expire_all()
    assert db.session.get(Unit, spare_id) is None
    event = db.session.scalar(sa.select(AuditEvent).where(AuditEvent.action == "unit.deleted"))
    assert event is not None
    assert event.data["slug"] == "spare"
    assert event.bureau_id == county.a.id


def test_a_unit_with_staff_is_refused_naming_them(client, county):
    login(client, "a.admin")
    page = client.get(_url(county.unit), headers=EN)
    assert "1 account works in this unit: a.unit." in page.text
    assert "Delete the unit" not in page.text
    response = client.post(_url(county.unit), headers=EN)
    assert response.status_code == 409
    assert "a.unit" in response.text
    db.session.expire_all()
    assert db.session.get(Unit, county.unit.id) is not None
    assert db.session.scalar(sa.select(RoleGrant).where(RoleGrant.unit_id == county.unit.id))


def test_only_the_bureaus_admins_delete_its_units(client, county, make):
    other = make.unit("other", county.b)
    db.session.commit()
    login(client, "a.admin")
    assert client.get(f"/b/county-a/admin/units/{other.id}/delete").status_code == 404
    assert client.post(f"/b/county-a/admin/units/{other.id}/delete").status_code == 404
    assert client.get("/b/county-a/admin/units/99999999999/delete").status_code == 404
    assert client.get(f"/b/county-b/admin/units/{other.id}/delete").status_code == 404
    login(client, "a.supervisor")
    assert client.get("/b/county-a/admin/units").status_code == 403
    assert client.post(_url(county.unit)).status_code == 403
    db.session.expire_all()
    assert db.session.get(Unit, other.id) is not None


def test_deleting_needs_the_csrf_token(app, client, county, make):
    spare = make.unit("spare", county.a)
    db.session.commit()
    login(client, "a.admin")
    app.config["WTF_CSRF_ENABLED"] = True
    try:
        assert client.post(_url(spare), data={"csrf_token": "forged"}).status_code == 400
    finally:
        app.config["WTF_CSRF_ENABLED"] = False
    db.session.expire_all()
    assert db.session.get(Unit, spare.id) is not None
