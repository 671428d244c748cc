"""Figures in the report's words: "12 项：基本完成 8 项，正在推进 4 项", per school and county.

Each figure over many schools is one grouped query for all of them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

import sqlalchemy as sa
from flask import url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel import ngettext, pgettext
from flask_login import current_user

from kaimen import (
    MetricTable,
    Organisation,
    Panel,
    all_schools,
    db,
    local_date,
    render_panel,
    user_can,
)

from . import services
from .models import (
    APPROVED,
    BASICALLY_DONE,
    DONE,
    IN_PROGRESS,
    NOT_STARTED,
    PLAN_STATUSES,
    Campaign,
    Measure,
    Plan,
)


@dataclass
class Tally:
    """Ledger items of approved plans by status, and how many are overdue or signed off."""

    by_status: dict[str, int] = field(default_factory=dict)
    overdue: int = 0
    signed_off: int = 0

    @property
    def total(self) -> int:
        return sum(self.by_status.values())

    def add(self, other: Tally) -> None:
        for status, count in other.by_status.items():
            self.by_status[status] = self.by_status.get(status, 0) + count
        self.overdue += other.overdue
        self.signed_off += other.signed_off


def sentence(tally: Tally) -> str:
    """Return the report's sentence, e.g. "12 items: 8 basically done, 4 in progress"."""
    if not tally.total:
        return _("No items yet")
    words = {
        DONE: lambda n: ngettext("%(num)d done", "%(num)d done", n),
        BASICALLY_DONE: lambda n: ngettext("%(num)d basically done", "%(num)d basically done", n),
        IN_PROGRESS: lambda n: ngettext("%(num)d in progress", "%(num)d in progress", n),
        NOT_STARTED: lambda n: ngettext("%(num)d not started", "%(num)d not started", n),
    }
    parts = [say(tally.by_status[s]) for s, say in words.items() if tally.by_status.get(s)]
    return _("%(total)s: %(parts)s", total=ngettext("%(num)d item", "%(num)d items", tally.total),
             parts=pgettext("counts in a sentence", ", ").join(parts))


def tallies(campaign: Campaign, school_ids: list[int], today: date) -> dict[int, Tally]:
    """Return ``{school id: Tally}`` of ``campaign``'s approved plans, in one query."""
    overdue = sa.func.sum(sa.case((sa.and_(
        Measure.deadline < today, Measure.status.not_in((BASICALLY_DONE, DONE))), 1), else_=0))
    signed = sa.func.sum(sa.case((Measure.signed_off_at.is_not(None), 1), else_=0))
    rows = db.session.execute(all_schools(
        sa.select(Measure.school_id, Measure.status, sa.func.count(), overdue, signed)
        .join(Plan, Plan.id == Measure.plan_id)
        .where(Plan.campaign_id == campaign.id, Plan.status == APPROVED,
               Measure.school_id.in_(school_ids))
        .group_by(Measure.school_id, Measure.status)))
    result = {school_id: Tally() for school_id in school_ids}
    for school_id, status, count, late, signed_off in rows:
        tally = result[school_id]
        tally.by_status[status] = count
        tally.overdue += int(late or 0)
        tally.signed_off += int(signed_off or 0)
    return result


def plan_statuses(campaign: Campaign, school_ids: list[int]) -> dict[int, str]:
    """Return ``{school id: plan status}`` in ``campaign``, in one query."""
    rows = db.session.execute(all_schools(
        sa.select(Plan.school_id, Plan.status)
        .where(Plan.campaign_id == campaign.id, Plan.school_id.in_(school_ids))))
    return {school_id: status for school_id, status in rows}


def county_tally(tally_by_school: dict[int, Tally]) -> Tally:
    """Return the sum of every school's tally."""
    total = Tally()
    for tally in tally_by_school.values():
        total.add(tally)
    return total


def school_panel(school: Organisation) -> Panel | None:
    """Return the public page's panel: the rectification window's sentence and link."""
    campaign = services.current_campaign(school.bureau())
    if campaign is None:
        return None
    statuses = plan_statuses(campaign, [school.id])
    if statuses.get(school.id) != APPROVED:
        return None
    tally = tallies(campaign, [school.id], local_date(school.bureau()))[school.id]
    return render_panel(_l("Rectification window"), "plans/panel.html", order=40, school=school,
                        campaign=campaign, summary=sentence(tally))


def bureau_table(bureau: Organisation, schools: list[Organisation]) -> MetricTable | None:
    """Return each school's plan status, items in the report's words, overdue and signed off;
    the bureau's own plan in the title, apart from the schools' total."""
    campaign = services.current_campaign(bureau)
    if campaign is None:
        return None
    ids, today = [s.id for s in schools], local_date(bureau)
    stage = campaign.stage_on(today)
    title = _l("Rectification: %(campaign)s", campaign=campaign.title)
    if stage is not None:
        title = _l("Rectification: %(campaign)s (stage: %(stage)s)", campaign=campaign.title,
                   stage=dict((s, label) for s, label, _d in campaign.stages())[stage])
    own = services.own_plan(bureau, campaign)
    if own is not None:  # the bureau's own items: a line of their own, not in the schools' total
        own_tally = tallies(campaign, [bureau.id], today)[bureau.id]
        title = _l("%(title)s; the bureau's own plan: %(items)s (%(status)s)", title=title,
                   items=sentence(own_tally), status=PLAN_STATUSES[own.status])
    table = MetricTable(title=title, order=40,
                        columns=[_l("Plan"), _l("Items"), _l("Overdue"), _l("Signed off")],
                        url=url_for("plans_bureau.index", bureau=bureau.slug))
    if user_can(current_user, "plans.view", bureau):
        table.links = ledger_links(bureau, campaign)
    statuses, by_school = plan_statuses(campaign, ids), tallies(campaign, ids, today)
    for school in schools:
        tally = by_school[school.id]
        status = statuses.get(school.id)
        table.rows[school.id] = [PLAN_STATUSES[status] if status else "—", sentence(tally),
                                 tally.overdue, tally.signed_off]
    total = county_tally(by_school)
    approved = sum(1 for s in statuses.values() if s == APPROVED)
    table.total = [_("%(approved)d of %(schools)d approved", approved=approved,
                     schools=len(schools)), sentence(total), total.overdue, total.signed_off]
    return table


def ledger_links(bureau: Organisation, campaign: Campaign) -> dict[int, Any]:
    """Return the umbrella's links from Items and Overdue to the county ledger of the same
    campaign's items, for one school or all of them."""

    def to(which: str) -> Any:
        base = url_for("plans_bureau.county_ledger", bureau=bureau.slug, list=which,
                       campaign=campaign.id)

        def build(school: Organisation | None) -> str:
            return f"{base}&school={school.id}" if school is not None else base
        return build

    return {1: to("all"), 2: to("overdue")}
