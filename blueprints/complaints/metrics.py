"""Figures: the school's public panel, the bureau's umbrella table, report counts.

Each figure is one grouped query over all the schools asked about, never one
query per school, over the cases ``queries.among`` selects (as the lists do), for
this school year, which the figures say. Reports about a school's leadership are
left out of what the school or the public sees, and counted for the bureau.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from flask import url_for
from flask_babel import format_decimal, format_percent
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
    db,
    local_date,
    render_panel,
    user_can,
)
from kaimen.classes import current_year

from .choices import OPEN_STATUSES, STATUSES, SUBSTANTIATED
from .models import Complaint, with_leadership
from .queries import cases_among, cases_in_charge, school_year_label, school_year_start
from .services import is_overdue, overdue_clause

FEW_REFERENCES = 100  # up to this many, the references go into the query itself


def _count_if(condition: Any) -> Any:
    return sa.func.coalesce(sa.func.sum(sa.case((condition, 1), else_=0)), 0)


def _rate(part: int, whole: int) -> str:
    return format_percent(part / whole, "#0%") if whole else "—"


def due_for_answer(today: Any) -> Any:
    """Return the SQL condition of a case an on-time rate counts: answered, or still
    unanswered past its answer deadline (late already, whatever happens next)."""
    return sa.or_(Complaint.answered_at.is_not(None),
                  sa.and_(Complaint.status.in_(OPEN_STATUSES), Complaint.answer_due < today))


def _figures(today: Any) -> list[Any]:
    return [
        sa.func.count(Complaint.id),
        _count_if(Complaint.status.in_(OPEN_STATUSES)),
        _count_if(overdue_clause(today)),
        _count_if(due_for_answer(today)),
        _count_if(Complaint.answered_on_time.is_(True)),
        _count_if(Complaint.satisfied.is_(True)),
        sa.func.count(Complaint.satisfied),
    ]


def period_of(org: Organisation, today: Any) -> tuple[Any, str]:
    """Return the first day of the figures' period, this school year, and its wording: the
    bureau's school year when it has one for today, else September to August."""
    year = current_year(org, today)
    if year is not None:
        return year.starts_on, _("This school year (%(year)s)", year=year.name)
    start = school_year_start(today)
    return start, _("This school year (%(year)s)", year=school_year_label(start))


def school_panel(school: Organisation) -> Panel:
    """Return the public panel: the box's link and the school's figures for this school year."""
    today = local_date(school.bureau())
    since, period = period_of(school, today)
    received, _open, _overdue, due, on_time, satisfied, judged = db.session.execute(
        cases_among(sa.select(*_figures(today)), [school.id], leadership=False, since=since)
    ).one()
    return render_panel(_l("Opinion box"), "complaints/_panel.html", order=20, school=school,
                        received=format_decimal(received), on_time=_rate(on_time, due),
                        satisfaction=_rate(satisfied, judged), period=period)


def my_cases_panel(school: Organisation, user: User) -> list[Panel]:
    """Return the desk's panel of the cases ``user`` is in charge of, or none when none are."""
    if not user_can(user, "complaints.open", school):
        return []
    today = local_date(school.bureau())
    cases = cases_in_charge(school, user, today,
                            leadership=user_can(user, "complaints.oversee", school))
    if not cases:
        return []
    return [render_panel(_l("Opinions in my charge"), "complaints/_my_cases.html", order=20,
                         school=school, cases=cases, today=today, statuses=STATUSES,
                         is_overdue=is_overdue)]


def _median(histogram: dict[int, int]) -> float | None:
    total = sum(histogram.values())
    if not total:
        return None
    middle, seen, values = (total - 1) / 2, 0, []
    for value in sorted(histogram):
        count = histogram[value]
        for position in (int(middle), int(middle + 0.5)):
            if seen <= position < seen + count:
                values.append(value)
        seen += count
    return sum(values[:2]) / len(values[:2])


def school_figures(bureau: Organisation, schools: list[Organisation]) -> dict[int, Any]:
    """Return each school's raw figures this school year, leadership reports included, in
    two queries: the seven counts of ``_figures`` and the days-to-answer histogram."""
    ids = [s.id for s in schools]
    today = local_date(bureau)
    since, _period = period_of(bureau, today)
    rows = db.session.execute(all_schools(cases_among(
        sa.select(Complaint.school_id, *_figures(today)), ids, leadership=True, since=since,
    ).group_by(Complaint.school_id))).all()
    histogram_rows = db.session.execute(all_schools(cases_among(
        sa.select(Complaint.school_id, Complaint.days_to_answer, sa.func.count())
        .where(Complaint.days_to_answer.is_not(None)), ids, leadership=True, since=since,
    ).group_by(Complaint.school_id, Complaint.days_to_answer))).all()
    figures: dict[int, Any] = {i: {"counts": [0] * 7, "days": {}} for i in ids}
    for row in rows:
        figures[row[0]]["counts"] = [int(v) for v in row[1:]]
    for school_id, days, count in histogram_rows:
        if days is not None:  # left out by the WHERE clause; the row type cannot say so
            figures[school_id]["days"][int(days)] = int(count)
    return figures


def bureau_table(bureau: Organisation, schools: list[Organisation],
                 figures: dict[int, Any] | None = None) -> MetricTable:
    """Return the umbrella table for ``schools`` this school year, leadership reports included,
    from ``figures`` (``school_figures``; counted now when None); its link opens the bureau's
    list of the same cases."""
    if figures is None:
        figures = school_figures(bureau, schools)
    since, period = period_of(bureau, local_date(bureau))
    table = MetricTable(
        title=_("Opinion box: %(period)s", period=period),
        columns=[_l("Received"), _l("Open"), _l("Overdue"), _l("Median days to answer"),
                 _l("Answered on time"), _l("Satisfaction")],
        url=url_for("complaints_bureau.cases", bureau=bureau.slug, since=since.isoformat()),
        order=20,
    )
    if user_can(current_user, "complaints.oversee", bureau):
        table.links = list_links(table.url or "")
    totals = [0] * 7
    overall: dict[int, int] = {}
    words: dict[Any, str] = {}
    for school in schools:
        kept = figures.get(school.id) or {"counts": [0] * 7, "days": {}}
        counts, histogram = kept["counts"], kept["days"]
        totals = [a + b for a, b in zip(totals, counts, strict=True)]
        for days, count in histogram.items():
            overall[days] = overall.get(days, 0) + count
        table.rows[school.id] = _cells(counts, _median(histogram), words)
    table.total = _cells(totals, _median(overall))
    return table


def list_links(base: str) -> dict[int, Any]:
    """Return the umbrella's links from Received, Open and Overdue to the bureau's list of
    the same cases (``base``: the list of this school year's cases), for a school or all."""

    def to(extra: str) -> Any:
        def build(school: SchoolRef | None) -> str:
            return f"{base}{extra}&school={school.id}" if school is not None else f"{base}{extra}"
        return build

    return {0: to(""), 1: to("&status=open"), 2: to("&overdue=1")}


def _cells(figures: list[int], median: float | None,
           words: dict[Any, str] | None = None) -> list[Any]:
    """Return a row's cells; ``words`` keeps each rate and median already formatted (Babel's
    formatting costs more than the rest of a row, and a county repeats the same values)."""
    words = {} if words is None else words
    received, open_, overdue, due, on_time, satisfied, judged = figures

    def rate(part: int, whole: int) -> str:
        key = ("rate", part / whole if whole else None)
        if key not in words:
            words[key] = _rate(part, whole)
        return words[key]

    if median is None:
        middle = "—"
    else:
        if ("median", median) not in words:
            words[("median", median)] = format_decimal(median)
        middle = words[("median", median)]
    return [received, open_, overdue, middle, rate(on_time, due), rate(satisfied, judged)]


def breakdown(
    schools: list[Organisation], column: Any
) -> tuple[dict[int, dict[str, int]], dict[str, int]]:
    """Return ``{school id: {value: count}}`` of ``column`` (channel or category), and
    ``{value: count}`` over all ``schools``."""
    ids = [s.id for s in schools]
    rows = db.session.execute(all_schools(cases_among(
        sa.select(Complaint.school_id, column, sa.func.count()), ids, leadership=True,
    ).group_by(Complaint.school_id, column))).all()
    result: dict[int, dict[str, int]] = {}
    totals: dict[str, int] = {}
    for school_id, value, count in rows:
        result.setdefault(school_id, {})[value] = count
        totals[value] = totals.get(value, 0) + count
    return result, totals


def report_counts(schools: list[Organisation], references: list[str]) -> dict[str, tuple[int, int]]:
    """Return ``{reference: (reports, substantiated)}`` in ``schools``, in one query.

    A county's pledges number tens of thousands: rather than a parameter per reference,
    the query reads every referenced case of the schools through the (school, reference)
    index and keeps the references asked about.
    """
    if not references or not schools:
        return {}
    wanted = set(references)
    # Reports about a school's leadership stay out, as everywhere outside the bureau's
    # lists; written as NOT rather than the criteria's "IS 0", so that SQLite, which keeps
    # no statistics, reads the (school, reference) index, not the one on that flag.
    statement = with_leadership(
        sa.select(Complaint.reference, sa.func.count(),
                  _count_if(Complaint.finding.in_(SUBSTANTIATED)))
        .where(among(Complaint.school_id, [school.id for school in schools]),
               Complaint.reference.is_not(None), sa.not_(Complaint.about_leadership))
        .group_by(Complaint.reference))
    if len(wanted) <= FEW_REFERENCES:
        statement = statement.where(Complaint.reference.in_(references))
    rows = db.session.execute(all_schools(statement)).all()
    return {reference: (int(count), int(proven)) for reference, count, proven in rows
            if reference in wanted}
