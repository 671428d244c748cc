"""Figures: the school's public panel and the bureau's umbrella table, a fixed number of queries.

Each figure over many schools is one grouped query for all of them, never one
query per school.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from flask import url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from kaimen import (
    MetricTable,
    Organisation,
    Panel,
    SchoolRef,
    User,
    all_schools,
    among,
    call_per_plugin,
    count_holders,
    db,
    render_panel,
    user_can,
)

from . import services
from .models import ETHICS, WITHDRAWN, Pledge, PledgeSignature


def school_panel(school: Organisation) -> Panel:
    """Return the panel of the school's public page: its standing pledges."""
    return render_panel(_l("Our pledges"), "pledges/panel.html", order=10, school=school,
                        pledges=services.standing_pledges())


def staff_panel(school: Organisation, user: User) -> Panel | None:
    """Return the desk panel of the pledges awaiting ``user``'s signature, or None."""
    if not user_can(user, "pledges.sign", school):
        return None
    waiting = services.awaiting_signature(user)
    if not waiting:
        return None
    return render_panel(_l("Pledges awaiting your signature"), "pledges/desk_panel.html",
                        order=20, school=school, pledges=waiting)


def published(schools: list[Organisation], year: str) -> dict[int, tuple[int, int]]:
    """Return ``{school id: (standing pledges, of them in school year year)}``."""
    this_year = sa.func.sum(sa.case((Pledge.school_year == year, 1), else_=0))
    rows = db.session.execute(all_schools(
        sa.select(Pledge.school_id, sa.func.count(), this_year)
        .where(among(Pledge.school_id, [s.id for s in schools]), Pledge.status != WITHDRAWN)
        .group_by(Pledge.school_id)
    ))
    return {school_id: (count, int(current or 0)) for school_id, count, current in rows}


def _signers(ids: list[int], year: str) -> dict[int, int]:
    """Return ``{school id: teachers who signed this year's ethics pledges}``."""
    rows = db.session.execute(all_schools(
        sa.select(Pledge.school_id, sa.func.count(sa.distinct(PledgeSignature.user_id)))
        .join(PledgeSignature, PledgeSignature.pledge_id == Pledge.id)
        .where(among(Pledge.school_id, ids), Pledge.kind == ETHICS, Pledge.school_year == year)
        .group_by(Pledge.school_id)
    ))
    return {key: value for key, value in rows}


def _reports(schools: list[Organisation]) -> dict[int, tuple[int, int]] | None:
    """Return ``{school id: (reports, substantiated)}``, or None when no plugin counts reports.

    The pledge references are one query; each answering plugin (the complaint box) is
    asked once, for every school where it is enabled, and counts nothing elsewhere.
    """
    ids = [s.id for s in schools]
    owner = {f"pledge:{pledge_id}": school_id for pledge_id, school_id in db.session.execute(
        all_schools(sa.select(Pledge.id, Pledge.school_id).where(among(Pledge.school_id, ids)))
    )}
    answers = call_per_plugin("kaimen_report_counts", schools, references=list(owner))
    if not answers:
        return None
    totals = {school_id: (0, 0) for school_id in ids}
    for answer in answers:
        services.add_counts(totals, {owner[reference]: counts
                                     for reference, counts in answer.items()
                                     if reference in owner})
    return totals


def school_figures(schools: list[Organisation]) -> dict[int, Any]:
    """Return each school's raw figures: its published pledges, of them this school year's,
    the teachers who signed this year's ethics pledges and the reports about its pledges
    (``[reports, substantiated]``; None when no plugin counted reports in ``schools``), with
    the school year."""
    ids, year = [s.id for s in schools], services.current_school_year()
    boards, signers, reports = published(schools, year), _signers(ids, year), _reports(schools)
    return {i: {"year": year, "published": list(boards.get(i, (0, 0))),
                "signed": int(signers.get(i, 0)),
                "reports": list(reports[i]) if reports is not None else None}
            for i in ids}


def _reports_counted(schools: list[Organisation]) -> bool:
    """Return whether a plugin counts reports in any of ``schools``, as ``_reports`` asks:
    about no reference, it counts nothing; the plugin switches are read in one query."""
    return bool(call_per_plugin("kaimen_report_counts", schools, references=[]))


def bureau_table(bureau: Organisation, schools: list[Organisation],
                 figures: dict[int, Any] | None = None) -> MetricTable:
    """Return published pledges, board this year, ethics signatures and reports per school,
    from ``figures`` (``school_figures``; counted now when None, or for a school whose
    figures are of another school year); the teachers are counted here, from role grants,
    and whether any plugin counts reports (kept figures: the plugin switches may differ)."""
    year = services.current_school_year()
    kept = figures is not None
    figures = dict(figures or {})
    stale = [s for s in schools if (figures.get(s.id) or {}).get("year") != year]
    if stale:
        figures.update(school_figures(stale))
    teachers = count_holders("pledges.sign", schools)
    reported = (_reports_counted(schools) if kept else
                any(figures[s.id]["reports"] is not None for s in schools))
    columns = [_l("Published pledges"), _l("Board for %(year)s", year=year),
               _l("Ethics pledge signed / teachers")]
    if reported:
        columns.append(_l("Broken-pledge reports (substantiated)"))
    table = MetricTable(title=_l("Pledge board"), columns=columns, order=30,
                        url=url_for("pledges_bureau.schools", bureau=bureau.slug))
    if user_can(current_user, "bureau.view", bureau):
        table.links = list_links(table.url or "")
    totals = [0, 0, 0, 0, 0]  # published, with a board, signed, reports, substantiated
    yes, no = _("Yes"), _("No")
    for school in schools:
        raw = figures[school.id]
        (count, current), signed = raw["published"], raw["signed"]
        reports = raw["reports"] or (0, 0)
        row: list[Any] = [count, yes if current else no,
                          f"{signed} / {teachers.get(school.id, 0)}"]
        if reported:
            row.append("{} ({})".format(*reports))
        table.rows[school.id] = row
        for i, value in enumerate((count, 1 if current else 0, signed, *reports)):
            totals[i] += value
    table.total = [totals[0], f"{totals[1]} / {len(schools)}",
                   f"{totals[2]} / {sum(teachers.get(s.id, 0) for s in schools)}"]
    if reported:
        table.total.append(f"{totals[3]} ({totals[4]})")
    return table


def list_links(base: str) -> dict[int, Any]:
    """Return the umbrella's links from Published pledges to the bureau's list of the same
    pledges, and from the board to the schools' boards (``base``: the schools page)."""

    def to(anchor: str) -> Any:
        def build(school: SchoolRef | None) -> str:
            return f"{base}?school={school.id}{anchor}" if school is not None else base + anchor
        return build

    return {0: to("#published"), 1: to("")}
