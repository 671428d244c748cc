"""School pages: who the school's linked leader and packaging units are, and visits to it."""

from __future__ import annotations

import sqlalchemy as sa
from flask import g, render_template

from kaimen import db, paginate, require
from kaimen.classes import current_year, years_of

from .. import services
from ..blueprint import school_blueprint as bp
from ..models import LiaisonVisit


@bp.get("/")
@require("liaison.view")
def school_liaison() -> str:
    """Show the school's linked leader, packaging units and the visits to it."""
    school = g.school
    year = current_year(school) or next(iter(years_of(school)), None)
    leaders, units = services.people_of_school(school, year)
    page = paginate(sa.select(LiaisonVisit).where(LiaisonVisit.school_id == school.id)
                    .order_by(LiaisonVisit.visited_on.desc(), LiaisonVisit.id.desc()))
    return render_template("liaison/school.html", school=school, year=year, leaders=leaders,
                           units=units, page=page, labels=services.PURPOSE_LABELS)


@bp.get("/visits/<int:liaison_visit_id>")
@require("liaison.view")
def school_visit(liaison_visit_id: int) -> str:
    """Show one visit to the school."""
    entry = db.get_or_404(LiaisonVisit, liaison_visit_id)
    return render_template("liaison/visit.html", visit=entry, school=g.school,
                           labels=services.PURPOSE_LABELS)
