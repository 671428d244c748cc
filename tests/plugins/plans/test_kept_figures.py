"""The rectification table's umbrella figures are kept per school and follow a write."""

from __future__ import annotations

from blueprints.plans import services
from kaimen import plugins, tenancy
from kaimen.extensions import db
from kaimen.orgs import Organisation

from .conftest import draft, plan_of


def umbrella(app, county):
    """Return the rectification umbrella table, asked for as the view does, in a request."""
    with app.test_request_context("/b/county-a/"), tenancy.system_scope():
        bureau = db.session.get(Organisation, county.a.id)
        schools = [db.session.get(Organisation, i) for i in (county.a1.id, county.a2.id)]
        return next(t for t in plugins.bureau_metrics(bureau, schools)
                    if "/plans" in (t.url or ""))


def test_the_kept_figures_follow_a_plan_approved_in_one_school(approved, county, app):
    before = umbrella(app, county)
    assert before.rows[county.a1.id][:2] == ["Approved", "3 items: 3 not started"]
    assert before.rows[county.a2.id][1] == "No items yet"
    assert umbrella(app, county).rows == before.rows  # kept: the same figures
    plan = plan_of(county.a2)
    draft(plan, county.users["a2.admin"])
    services.submit(plan, county.users["a2.admin"])
    services.approve(plan, "", county.users["a.supervisor"])
    db.session.commit()
    after = umbrella(app, county)
    assert after.rows[county.a2.id][:2] == ["Approved", "3 items: 3 not started"]
    assert after.rows[county.a1.id] == before.rows[county.a1.id]
    assert after.total[:2] == ["2 of 2 approved", "6 items: 6 not started"]
