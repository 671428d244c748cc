"""The liaison figures on the umbrella view, and its filters by linked leader and unit."""

from __future__ import annotations

from collections import defaultdict
from datetime import date
from typing import Any

import sqlalchemy as sa
from flask import url_for
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from kaimen import (
    GroupOption,
    MetricTable,
    Organisation,
    Panel,
    SchoolGroup,
    SchoolRef,
    Trend,
    Unit,
    User,
    among,
    db,
    kept_figures,
    local_date,
    name_list,
    render_panel,
    schools_under,
    user_can,
)
from kaimen.classes import current_term, current_year

from . import services
from .models import LiaisonVisit, LinkAssignment, PackageAssignment

MONTHS = 12  # the umbrella view's trends span the last twelve months


def _by_county(schools: list[Organisation]) -> dict[int, list[Organisation]]:
    counties: dict[int, list[Organisation]] = defaultdict(list)
    for school in schools:
        counties[school.parent_id or 0].append(school)
    return counties


def school_figures(bureau: Organisation, schools: list[Organisation]) -> dict[int, Any]:
    """Return each school's raw figures: the ids of its linked leaders and packaging units
    this school year (in the order assigned), its visits this term and that term's days,
    and its visits per month (``"YYYY-MM"``) of the last ``MONTHS`` months.

    A fixed number of queries per county bureau (a city bureau's view spans several),
    whatever the number of schools; the names are read by ``bureau_metrics``.
    """
    figures: dict[int, Any] = {s.id: {"leaders": [], "units": [], "visits": 0, "term": None,
                                      "months": {}} for s in schools}
    for county_schools in _by_county(schools).values():
        county = county_schools[0].bureau()
        ids = [s.id for s in county_schools]
        year = current_year(county)
        if year is not None:
            for school_id, user_id in db.session.execute(
                sa.select(LinkAssignment.school_id, LinkAssignment.user_id)
                .where(LinkAssignment.school_year_id == year.id,
                       among(LinkAssignment.school_id, ids))
                .order_by(LinkAssignment.id)
            ):
                figures[school_id]["leaders"].append(user_id)
            for school_id, unit_id in db.session.execute(
                sa.select(PackageAssignment.school_id, PackageAssignment.unit_id)
                .where(PackageAssignment.school_year_id == year.id,
                       among(PackageAssignment.school_id, ids))
                .order_by(PackageAssignment.id)
            ):
                figures[school_id]["units"].append(unit_id)
        since = _months_back(local_date(county), MONTHS - 1)
        month = sa.func.extract("month", LiaisonVisit.visited_on)
        year_of = sa.func.extract("year", LiaisonVisit.visited_on)
        for school_id, year_number, month_number, count in db.session.execute(
            sa.select(LiaisonVisit.school_id, year_of, month, sa.func.count())
            .where(among(LiaisonVisit.school_id, ids), LiaisonVisit.visited_on >= since)
            .group_by(LiaisonVisit.school_id, year_of, month)
        ):
            figures[school_id]["months"][f"{int(year_number):04d}-{int(month_number):02d}"] = (
                int(count))
        term = current_term(county)
        if term is None:
            continue
        for school_id in ids:
            figures[school_id]["term"] = [term.starts_on.isoformat(), term.ends_on.isoformat()]
        for school_id, count in db.session.execute(
            sa.select(LiaisonVisit.school_id, sa.func.count())
            .where(among(LiaisonVisit.school_id, ids), LiaisonVisit.visited_on >= term.starts_on,
                   LiaisonVisit.visited_on <= term.ends_on)
            .group_by(LiaisonVisit.school_id)
        ):
            figures[school_id]["visits"] = int(count)
    return figures


def bureau_metrics(bureau: Organisation, schools: list[Organisation],
                   figures: dict[int, Any] | None = None) -> MetricTable:
    """Return each school's linked leaders, packaging units, visits this term and coverage flags,
    from ``figures`` (``school_figures``; counted now when None) and the names of the leaders
    and units they name: two queries.
    """
    if figures is None:
        figures = school_figures(bureau, schools)
    empty: dict[str, Any] = {"leaders": [], "units": [], "visits": 0, "term": None}
    kept: dict[int, dict[str, Any]] = {s.id: figures.get(s.id) or empty for s in schools}
    leader_ids = {i for f in kept.values() for i in f["leaders"]}
    unit_ids = {i for f in kept.values() for i in f["units"]}
    names: dict[tuple[str, int], str] = {}
    if leader_ids:
        names.update((("leader", i), name) for i, name in db.session.execute(
            sa.select(User.id, User.display_name).where(User.id.in_(leader_ids))))
    if unit_ids:
        names.update((("unit", i), name) for i, name in db.session.execute(
            sa.select(Unit.id, Unit.name).where(Unit.id.in_(unit_ids))))
    lists: dict[tuple[str, tuple[int, ...]], str] = {}  # schools share leaders: words once

    def listed(kind: str, ids: list[int]) -> str:
        key = (kind, tuple(ids))
        if key not in lists:
            lists[key] = name_list(names[kind, i] for i in ids if (kind, i) in names) or "—"
        return lists[key]

    table = MetricTable(
        title=_l("Dual-link, dual-package"),
        columns=[_l("Linked leader"), _l("Packaging units"), _l("Visits this term"),
                 _l("Coverage problems")],
        order=20,
    )
    visits_total = problems_total = 0
    bases: dict[int, str] = {}  # county id -> its list of this term's visits
    for county_schools in _by_county(schools).values():
        county = county_schools[0].bureau()
        term = kept[county_schools[0].id]["term"]
        if term is not None and user_can(current_user, "liaison.view", county):
            bases[county.id] = url_for("liaison_bureau.visits", bureau=county.slug,
                                       since=term[0], until=term[1])
        for school in county_schools:
            figure = kept[school.id]
            linked, packaged = figure["leaders"], figure["units"]
            flags = (not linked) + (len(linked) > 1) + (not packaged)
            table.rows[school.id] = [
                listed("leader", linked),
                listed("unit", packaged),
                figure["visits"],
                flags,
            ]
            visits_total += figure["visits"]
            problems_total += flags
    table.total = ["", "", visits_total, problems_total]

    def visits_of(school: SchoolRef | None) -> str | None:
        if school is None:  # the total spans one county's list, unless several are shown
            return bases.get(bureau.id) if len(bases) == 1 else None
        base = bases.get(school.parent_id or 0)
        return f"{base}&school={school.id}" if base else None

    table.links = {2: visits_of}
    return table


def school_groups(bureau: Organisation, user: Any) -> list[SchoolGroup]:
    """Return the filters "linked leader" and "packaging unit" of the current school year.

    Who answers for which school is read from the kept figures (``school_figures``) the
    umbrella's table is built from in the same request: no assignment is read again.
    """
    year = current_year(bureau)
    if year is None or year.bureau_id != bureau.id:
        return []
    every = schools_under(bureau)
    kept = kept_figures("liaison", bureau, every) or {}
    my_units = set(services.units_of_user(user, bureau))
    user_id = getattr(user, "id", None) if getattr(user, "is_authenticated", False) else None
    by_leader: dict[int, set[int]] = defaultdict(set)
    by_unit: dict[int, set[int]] = defaultdict(set)
    answers = False  # whether the user is linked to a school or their unit packages one
    for school in every:
        figure = kept.get(school.id)
        if school.parent_id != bureau.id or not figure:
            continue
        for leader_id in figure["leaders"]:
            by_leader[leader_id].add(school.id)
            answers = answers or leader_id == user_id
        for unit_id in figure["units"]:
            by_unit[unit_id].add(school.id)
            answers = answers or unit_id in my_units
    leaders = services.leaders_of(bureau)
    units = services.units_of(bureau)
    return [
        SchoolGroup("leader", _l("Linked leader"), [
            GroupOption(u.username, u.display_name, frozenset(by_leader.get(u.id, ())),
                        mine=answers and u.id == user_id)
            for u in leaders], order=10),
        SchoolGroup("unit", _l("Packaging unit"), [
            GroupOption(u.slug, u.name, frozenset(by_unit.get(u.id, ())), mine=u.id in my_units)
            for u in units], order=20),
    ]


def _months_back(day: date, count: int) -> date:
    """Return the first day of the month ``count`` months before ``day``'s."""
    index = day.year * 12 + day.month - 1 - count
    return date(index // 12, index % 12 + 1, 1)


def visit_trend(schools: list[Organisation], months: list[date],
                figures: dict[int, Any] | None = None) -> Trend:
    """Return the liaison visits to ``schools`` per month: summed from the kept ``figures``
    when they cover ``months``, else in one query."""
    counts = dict.fromkeys(months, 0)
    kept: list[Any] = [figures.get(s.id) for s in schools] if figures is not None else []
    if months and kept and all(f is not None and "months" in f for f in kept) and (
            len(months) <= MONTHS):
        wanted = {f"{m.year:04d}-{m.month:02d}": m for m in months}
        for school_figures_ in kept:
            for key, count in school_figures_["months"].items():
                if key in wanted:
                    counts[wanted[key]] += count
    elif months:
        rows = db.session.execute(
            sa.select(LiaisonVisit.visited_on, sa.func.count())
            .where(among(LiaisonVisit.school_id, [s.id for s in schools]),
                   LiaisonVisit.visited_on >= months[0])
            .group_by(LiaisonVisit.visited_on)
        )
        for day, count in rows:
            month = date(day.year, day.month, 1)
            if month in counts:
                counts[month] += count
    return Trend(_l("Liaison visits per month"), list(months), [counts[m] for m in months],
                 order=20)


def staff_panel(school: Organisation, user: Any) -> list[Panel]:
    """Return the school's follow-ups from liaison visits that fall due around today."""
    if not user_can(user, "liaison.view", school):
        return []
    follow_ups = services.follow_ups_due(school)
    if not follow_ups:
        return []
    return [render_panel(_l("Follow-ups from liaison visits"), "liaison/desk_panel.html",
                         order=40, school=school, follow_ups=follow_ups,
                         today=local_date(school))]
