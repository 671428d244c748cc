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
    User,
    all_schools,
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
        .where(Pledge.school_id.in_([s.id for s in schools]), Pledge.status != WITHDRAWN)
        .group_by(Pledge.school_id)
    ))
    return {school_id: (count, int(current or 0)) for school_id, count, current in rows}


def _signers(ids: list[int], year: str) -> dict[int, int]:
    """Return ``{school id: teachers who signed this year's ethics pledges}``."""
    rows = db.session.execute(all_schools(
        sa.select(Pledge.school_id, sa.func.count(sa.distinct(PledgeSignature.user_id)))
        .join(PledgeSignature, PledgeSignature.pledge_id == Pledge.id)
        .where(Pledge.school_id.in_(ids), Pledge.kind == ETHICS, Pledge.school_year == year)
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
        all_schools(sa.select(Pledge.id, Pledge.school_id).where(Pledge.school_id.in_(ids)))
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


def bureau_table(bureau: Organisation, schools: list[Organisation]) -> MetricTable:
    """Return published pledges, board this year, ethics signatures and reports per school."""
    ids, year = [s.id for s in schools], services.current_school_year()
    boards, signers = published(schools, year), _signers(ids, year)
    teachers = count_holders("pledges.sign", schools)
    reports = _reports(schools)
    columns = [_l("Published pledges"), _l("Board for %(year)s", year=year),
               _l("Ethics pledge signed / teachers")]
    if reports is not None:
        columns.append(_l("Broken-pledge reports (substantiated)"))
    table = MetricTable(title=_l("Pledge board"), columns=columns, order=30,
                        url=url_for("pledges_bureau.schools", bureau=bureau.slug))
    if user_can(current_user, "bureau.view", bureau):
        table.links = list_links(table.url or "")
    for school in schools:
        count, current = boards.get(school.id, (0, 0))
        row: list[Any] = [count, _("Yes") if current else _("No"),
                          f"{signers.get(school.id, 0)} / {teachers.get(school.id, 0)}"]
        if reports is not None:
            row.append("{} ({})".format(*reports[school.id]))
        table.rows[school.id] = row
    with_board = sum(1 for s in schools if boards.get(s.id, (0, 0))[1])
    table.total = [sum(c for c, _y in boards.values()), f"{with_board} / {len(schools)}",
                   f"{sum(signers.values())} / {sum(teachers.get(i, 0) for i in ids)}"]
    if reports is not None:
        reported, substantiated = (sum(r[i] for r in reports.values()) for i in (0, 1))
        table.total.append(f"{reported} ({substantiated})")
    return table


def list_links(base: str) -> dict[int, Any]:
    """Return the umbrella's links from Published pledges to the bureau's list of the same
    pledges, and from the board to the schools' boards (``base``: the schools page)."""

    def to(anchor: str) -> Any:
        def build(school: Organisation | None) -> str:
            return f"{base}?school={school.id}{anchor}" if school is not None else base + anchor
        return build

    return {0: to("#published"), 1: to("")}
