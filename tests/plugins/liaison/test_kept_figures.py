"""The umbrella view keeps each school's liaison figures until that school's rows change;
the names of leaders and units are read when the table is built."""

from __future__ import annotations

from datetime import timedelta

from flask_babel import force_locale

from blueprints.liaison import metrics, services
from blueprints.liaison.models import LiaisonVisit
from kaimen import bureau_metrics, tenancy
from kaimen.extensions import db
from kaimen.orgs import Organisation
from kaimen.timeutil import local_date
from kaimen.web.trends import last_months


def rows(app, county):
    """Return the liaison table's (a1, a2, total) rows, as the umbrella view asks for them."""
    with (app.test_request_context("/b/county-a/"), tenancy.system_scope(),
          force_locale("en")):
        bureau = db.session.get(Organisation, county.a.id)
        schools = [db.session.get(Organisation, i) for i in (county.a1.id, county.a2.id)]
        table = next(t for t in bureau_metrics(bureau, schools)
                     if str(t.title) == "Dual-link, dual-package")
        return table.rows[county.a1.id], table.rows[county.a2.id], table.total


def test_the_kept_figures_follow_visits_assignments_and_names(app, county, years):
    leader, unit = county.users["a.leader"], county.unit
    services.set_assignments(county.a, years.current, {(county.a1.id, leader.id)},
                             {(county.a1.id, unit.id)})
    db.session.commit()
    assert rows(app, county) == ([leader.display_name, unit.name, 0, 0], ["—", "—", 0, 2],
                                 ["", "", 0, 2])

    services.record_visit(county.a1, leader, visited_on=years.today, purposes=["hear"],
                          met="Principal", findings="")
    db.session.commit()
    assert rows(app, county)[0] == [leader.display_name, unit.name, 1, 0]

    leader.display_name = "改名的领导"  # a user's row: no school's figures change
    db.session.commit()
    assert rows(app, county)[0] == ["改名的领导", unit.name, 1, 0]

    services.set_assignments(county.a, years.current,  # deletes and adds: a2 is touched
                             {(county.a2.id, leader.id)}, {(county.a1.id, unit.id)})
    db.session.commit()
    assert rows(app, county) == (["—", unit.name, 1, 1], ["改名的领导", "—", 0, 1],
                                 ["", "", 1, 2])


def test_the_monthly_trend_from_kept_figures_equals_the_count(app, county, ctx):
    """The trend summed from each school's kept months equals the one counted at once."""
    today = local_date(county.a)
    visitor = county.users["a.leader"]
    for school, days_ago in ((county.a1, 0), (county.a1, 40), (county.a2, 70), (county.a2, 400)):
        db.session.add(LiaisonVisit(school_id=school.id, visitor_id=visitor.id,
                                    visited_on=today - timedelta(days=days_ago),
                                    purposes="guide", met="校长", findings="好"))
    db.session.commit()
    with app.test_request_context("/b/county-a/"):
        schools = [county.a1, county.a2]
        months = last_months(county.a)
        kept = metrics.school_figures(county.a, schools)
        from_kept = metrics.visit_trend(schools, months, kept)
        counted = metrics.visit_trend(schools, months)
    assert from_kept.values == counted.values
    assert sum(counted.values) == 3  # the visit 400 days ago is older than the twelve months
