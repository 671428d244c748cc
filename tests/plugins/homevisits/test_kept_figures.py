"""The umbrella view keeps each school's home-visit figures until that school writes; the
teachers behind "visits per teacher" are counted afresh, since a grant bumps no school."""

from __future__ import annotations

from blueprints.homevisits import services
from kaimen import bureau_metrics, count_holders, tenancy
from kaimen.extensions import db
from kaimen.orgs import Organisation

from .conftest import visit_values


def rows(app, county):
    """Return the home-visit table's (a1, a2, total) rows, as the umbrella view asks for them."""
    with app.test_request_context("/b/county-a/"), tenancy.system_scope():
        bureau = db.session.get(Organisation, county.a.id)
        schools = [db.session.get(Organisation, i) for i in (county.a1.id, county.a2.id)]
        table = next(t for t in bureau_metrics(bureau, schools) if "homevisits" in (t.url or ""))
        return table.rows[county.a1.id], table.rows[county.a2.id], table.total


def per_teacher(visits, school):
    return f"{visits / count_holders('homevisits.log', [school])[school.id]:.1f}"


def test_the_kept_figures_follow_a_visit_and_a_new_teacher(app, hv, make):
    county = hv.county
    a1, a2, total = rows(app, county)
    assert a1 == [4, "0%", "0%", "0.0", 0]
    assert a2 == [0, "0%", "0%", "0.0", 0]
    assert total == [4, "0%", "0%", "0.0", 0]

    services.log_visit(county.a1, hv.teacher, hv.students["S001"],
                       visit_values(hv.today, method="in_person"))
    db.session.commit()
    a1, a2, total = rows(app, county)
    assert a1 == [4, "25%", "25%", per_teacher(1, county.a1), 0]
    assert a2 == [0, "0%", "0%", "0.0", 0]
    assert total[:3] == [4, "25%", "25%"]

    before = a1[3]
    make.user("a1.teacher3", "teacher", county.a1)
    db.session.commit()
    a1, _a2, _total = rows(app, county)
    assert a1[3] == per_teacher(1, county.a1) != before
