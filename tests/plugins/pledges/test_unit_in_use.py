"""A unit in whose name the bureau made a pledge stays: the pledge is on the public record."""

from __future__ import annotations

import sqlalchemy as sa
from conftest import login

from blueprints.pledges import services
from kaimen import tenancy
from kaimen.auth.models import RoleGrant
from kaimen.extensions import db
from kaimen.orgs import Unit


def test_a_unit_with_a_pledge_is_refused_naming_it(client, county):
    db.session.execute(sa.delete(RoleGrant).where(RoleGrant.unit_id == county.unit.id))
    with tenancy.system_scope():
        services.publish_bureau_pledge(county.a, county.unit.id, None, title="限时办结",
                                       text="五个工作日内答复", answerable="教研室",
                                       school_year="2026-2027")
        db.session.commit()
    login(client, "a.admin")
    url = f"/b/county-a/admin/units/{county.unit.id}/delete"
    response = client.post(url, headers={"Accept-Language": "en"})
    assert response.status_code == 409
    assert "1 pledge of the bureau is made in its name: 限时办结." in response.text
    db.session.expire_all()
    assert db.session.get(Unit, county.unit.id) is not None
