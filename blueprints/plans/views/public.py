"""The rectification window (整改之窗): a school's approved plans, measure by measure, at
``/s/<school>/plans/``; the bureau's own at ``/b/<bureau>/plans/window``.

No complainant's identity and no opinion's text: a linked opinion shows as a count.
"""

from __future__ import annotations

from .. import ledger, services
from ..models import APPROVED
from . import owner, render, shared


@shared("/", None, bureau_rule="/window")
def window() -> str:
    """Show the owner's approved rectification plans and the status of each measure."""
    plans = [plan for plan in services.plans_of(owner()) if plan.status == APPROVED]
    return render("plans/window.html", plans=plans, numbers={
        plan.id: services.numbered(plan) for plan in plans}, today=ledger.school_today(owner()))
