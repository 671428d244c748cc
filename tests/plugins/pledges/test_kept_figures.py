"""The pledge board's umbrella figures are kept per school and follow a write in one school."""

from __future__ import annotations

from flask_babel import force_locale

from kaimen import plugins, tenancy
from kaimen.extensions import db
from kaimen.orgs import Organisation

from .conftest import publish


def umbrella(app, county):
    """Return the pledge board's umbrella table, asked for as the view does, in a request."""
    with app.test_request_context("/b/county-a/"), force_locale("en"), tenancy.system_scope():
        bureau = db.session.get(Organisation, county.a.id)
        schools = [db.session.get(Organisation, i) for i in (county.a1.id, county.a2.id)]
        return next(t for t in plugins.bureau_metrics(bureau, schools)
                    if "/pledges/" in (t.url or ""))


def test_the_kept_figures_follow_a_pledge_published_in_one_school(board, app, ctx):
    county = board.county
    before = umbrella(app, county)
    assert [before.rows[s.id][:2] for s in (county.a1, county.a2)] == [[2, "Yes"], [1, "Yes"]]
    assert umbrella(app, county).rows == before.rows  # kept: the same figures
    publish(county.a2, county.users["a2.admin"], "Homework limits")
    db.session.commit()
    after = umbrella(app, county)
    assert after.rows[county.a2.id][0] == 2
    assert after.rows[county.a1.id] == before.rows[county.a1.id]
    assert after.total[0] == 4
