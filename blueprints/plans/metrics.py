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
    SchoolRef,
    all_schools,
    among,
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


def sentence(tally: Tally, said: dict[Any, str] | None = None) -> str:
    """Return the report's sentence, e.g. "12 items: 8 basically done, 4 in progress".

    ``said`` keeps the words already translated: a table of a thousand schools says the
    same few counts over and over, and each translation costs a lookup of the locale.
    """
    said = {} if said is None else said

    def say(key: Any, words: Any) -> str:
        if key not in said:
            said[key] = words()
        return said[key]

    if not tally.total:
        return say("none", lambda: _("No items yet"))
    parts = [say((s, tally.by_status[s]), lambda s=s: WORDS[s](tally.by_status[s]))
             for s in WORDS if tally.by_status.get(s)]
    total = say(("total", tally.total),
                lambda: ngettext("%(num)d item", "%(num)d items", tally.total))
    comma = say("comma", lambda: pgettext("counts in a sentence", ", "))
    return say("sentence", lambda: _("%(total)s: %(parts)s")) % {  # as gettext fills it in
        "total": total, "parts": comma.join(parts)}


WORDS: dict[str, Any] = {
    DONE: lambda n: ngettext("%(num)d done", "%(num)d done", n),
    BASICALLY_DONE: lambda n: ngettext("%(num)d basically done", "%(num)d basically done", n),
    IN_PROGRESS: lambda n: ngettext("%(num)d in progress", "%(num)d in progress", n),
    NOT_STARTED: lambda n: ngettext("%(num)d not started", "%(num)d not started", n),
}


def tallies(campaign: Campaign, school_ids: list[int], today: date) -> dict[int, Tally]:
    """Return ``{school id: Tally}`` of ``campaign``'s approved plans, in one query."""
    overdue = sa.func.sum(sa.case((sa.and_(
        Measure.deadline < today, Measure.status.not_in((BASICALLY_DONE, DONE))), 1), else_=0))
    signed = sa.func.sum(sa.case((Measure.signed_off_at.is_not(None), 1), else_=0))
    rows = db.session.execute(all_schools(
        sa.select(Measure.school_id, Measure.status, sa.func.count(), overdue, signed)
        .join(Plan, Plan.id == Measure.plan_id)
        .where(Plan.campaign_id == campaign.id, Plan.status == APPROVED,
               among(Measure.school_id, school_ids))
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
        .where(Plan.campaign_id == campaign.id, among(Plan.school_id, school_ids))))
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


def school_figures(bureau: Organisation, schools: list[Organisation]) -> dict[int, Any]:
    """Return each school's raw figures in the current campaign (none without one): the
    campaign, the plan's status and the approved plan's items by status, overdue today and
    signed off. One query for the campaign, two for the figures."""
    campaign = services.current_campaign(bureau)
    if campaign is None:
        return {}
    return _count(campaign, [s.id for s in schools], local_date(bureau))


def _count(campaign: Campaign, ids: list[int], today: date) -> dict[int, Any]:
    statuses, by_school = plan_statuses(campaign, ids), tallies(campaign, ids, today)
    return {i: {"campaign": campaign.id, "plan": statuses.get(i),
                "items": by_school[i].by_status, "overdue": by_school[i].overdue,
                "signed_off": by_school[i].signed_off} for i in ids}


def bureau_table(bureau: Organisation, schools: list[Organisation],
                 figures: dict[int, Any] | None = None) -> MetricTable | None:
    """Return each school's plan status, items in the report's words, overdue and signed off,
    from ``figures`` (``school_figures``; counted now when None, or for a school whose figures
    are of another campaign); the bureau's own plan in the title, apart from the schools'
    total, read here (the bureau is none of ``schools``, so its figures are not kept)."""
    campaign = services.current_campaign(bureau)
    if campaign is None:
        return None
    today = local_date(bureau)
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
    figures = dict(figures or {})
    stale = [s.id for s in schools if (figures.get(s.id) or {}).get("campaign") != campaign.id]
    if stale:
        figures.update(_count(campaign, stale, today))
    total, approved, said = Tally(), 0, dict[Any, str]()
    for school in schools:
        raw = figures[school.id]
        tally = Tally(dict(raw["items"]), raw["overdue"], raw["signed_off"])
        status = raw["plan"]
        table.rows[school.id] = [PLAN_STATUSES[status] if status else "—",
                                 sentence(tally, said), tally.overdue, tally.signed_off]
        total.add(tally)
        approved += status == APPROVED
    table.total = [_("%(approved)d of %(schools)d approved", approved=approved,
                     schools=len(schools)), sentence(total, said), total.overdue, total.signed_off]
    return table


def ledger_links(bureau: Organisation, campaign: Campaign) -> dict[int, Any]:
    """Return the umbrella's links from Items and Overdue to the county ledger of the same
    campaign's items, for one school or all of them."""

    def to(which: str) -> Any:
        base = url_for("plans_bureau.county_ledger", bureau=bureau.slug, list=which,
                       campaign=campaign.id)

        def build(school: SchoolRef | None) -> str:
            return f"{base}&school={school.id}" if school is not None else base
        return build

    return {1: to("all"), 2: to("overdue")}
