"""A school's rectification window (整改之窗): its approved plans, measure by measure.

No complainant's identity and no opinion's text: a linked opinion shows as a count.
"""

from __future__ import annotations

from flask import g

from kaimen import public

from .. import ledger, services
from ..blueprint import school_blueprint
from ..models import APPROVED
from . import render


@school_blueprint.get("/")
@public
def window() -> str:
    """Show the school's approved rectification plans and the status of each measure."""
    plans = [plan for plan in services.school_plans() if plan.status == APPROVED]
    return render("plans/window.html", plans=plans, numbers={
        plan.id: services.numbered(plan) for plan in plans}, today=ledger.school_today(g.school))
