"""The rules of dual-link, dual-package: assignments, coverage, visits. Every write audited.

Nothing here reads the Flask request or commits: views and the tenants-file loader
call these functions and commit (or roll back) the one transaction.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from flask_babel import ngettext

from kaimen import (
    Organisation,
    Unit,
    User,
    all_schools,
    among,
    audit,
    db,
    holders,
    local_date,
    name_list,
    schools_under,
    touch_schools,
)
from kaimen.classes import SchoolYear, current_term, current_year

from .models import PURPOSES, LiaisonVisit, LinkAssignment, PackageAssignment, VisitFollowUp

PURPOSE_LABELS = {
    "hear": _l("Hear opinions"),
    "inspect": _l("Inspect"),
    "guide": _l("Guide"),
}
# A leader or unit is flagged as heavily loaded above twice the bureau's average, and
# only from this many schools on (with two schools each, three is not "heavy").
HEAVY_FROM = 5


class LiaisonError(ValueError):
    """A change the rules refuse, with a translated message (and the form field, if one)."""

    def __init__(self, message: Any, field: str | None = None) -> None:
        super().__init__(str(message))
        self.field = field


class NotInBureau(LookupError):
    """A school, leader or unit that is not the bureau's: the page answers 404."""


# -- who and what can be assigned -------------------------------------------------------


def leaders_of(bureau: Organisation) -> list[User]:
    """Return the bureau's leaders: who may be linked to schools."""
    return holders("liaison.link", bureau, reach="own")


def units_of(bureau: Organisation) -> list[Unit]:
    """Return the bureau's departments and units, by slug."""
    return list(
        db.session.scalars(sa.select(Unit).where(Unit.bureau_id == bureau.id).order_by(Unit.slug))
    )


def units_of_user(user: Any, bureau: Organisation) -> list[int]:
    """Return the ids of the units ``user`` works in at ``bureau``."""
    return sorted(
        {g.unit_id for g in getattr(user, "grants", []) if g.unit_id and g.org_id == bureau.id}
    )


def previous_year(year: SchoolYear) -> SchoolYear | None:
    """Return the school year of the same bureau just before ``year``."""
    return db.session.scalar(
        sa.select(SchoolYear)
        .where(SchoolYear.bureau_id == year.bureau_id, SchoolYear.starts_on < year.starts_on)
        .order_by(SchoolYear.starts_on.desc())
        .limit(1)
    )


# -- reading the grid ------------------------------------------------------------------


@dataclass
class Grid:
    """A school year's assignments: per school, its linked leaders and packaging units."""

    leaders: dict[int, list[User]] = field(default_factory=lambda: defaultdict(list))
    units: dict[int, list[Unit]] = field(default_factory=lambda: defaultdict(list))

    def links(self) -> set[tuple[int, int]]:
        return {(sid, u.id) for sid, users in self.leaders.items() for u in users}

    def packages(self) -> set[tuple[int, int]]:
        return {(sid, u.id) for sid, units in self.units.items() for u in units}


def load_grid(year: SchoolYear, school_ids: Iterable[int]) -> Grid:
    """Return the assignments of ``year`` for those schools, in four queries.

    The assignments are read as pairs of ids, and the people and units they name once
    each: a county's thousand assignments name a few dozen of them, and building an
    entity per row cost more than the rest of the filter grid.
    """
    ids = list(school_ids)
    links = db.session.execute(
        sa.select(LinkAssignment.school_id, LinkAssignment.user_id)
        .where(LinkAssignment.school_year_id == year.id, among(LinkAssignment.school_id, ids))
        .order_by(LinkAssignment.id)
    ).all()
    packages = db.session.execute(
        sa.select(PackageAssignment.school_id, PackageAssignment.unit_id)
        .where(PackageAssignment.school_year_id == year.id, among(PackageAssignment.school_id, ids))
        .order_by(PackageAssignment.id)
    ).all()
    users = {user.id: user for user in db.session.scalars(
        sa.select(User).where(among(User.id, {user_id for _, user_id in links})))}
    units = {unit.id: unit for unit in db.session.scalars(
        sa.select(Unit).where(among(Unit.id, {unit_id for _, unit_id in packages})))}
    grid = Grid()
    for school_id, user_id in links:
        grid.leaders[school_id].append(users[user_id])
    for school_id, unit_id in packages:
        grid.units[school_id].append(units[unit_id])
    return grid


@dataclass
class Coverage:
    """What the coverage check found: every school needs one leader and at least one unit."""

    no_leader: list[int] = field(default_factory=list)  # school ids
    several_leaders: list[int] = field(default_factory=list)
    no_unit: list[int] = field(default_factory=list)
    leader_load: dict[int, int] = field(default_factory=dict)  # user id -> schools
    unit_load: dict[int, int] = field(default_factory=dict)  # unit id -> schools
    heavy_leaders: set[int] = field(default_factory=set)
    heavy_units: set[int] = field(default_factory=set)

    @property
    def problems(self) -> int:
        return (len(self.no_leader) + len(self.several_leaders) + len(self.no_unit)
                + len(self.heavy_leaders) + len(self.heavy_units))

    @property
    def complete(self) -> bool:
        return not (self.no_leader or self.several_leaders or self.no_unit)

    def flags(self, school_id: int) -> list[str]:
        """Return the coverage flags of one school: no_leader, several_leaders, no_unit."""
        return [name for name in ("no_leader", "several_leaders", "no_unit")
                if school_id in getattr(self, name)]


def _heavy(load: dict[int, int]) -> set[int]:
    if not load:
        return set()
    limit = max(HEAVY_FROM - 1, math.floor(2 * sum(load.values()) / len(load)))
    return {key for key, count in load.items() if count > limit}


def coverage(grid: Grid, school_ids: Iterable[int], leaders: Iterable[User],
             units: Iterable[Unit]) -> Coverage:
    """Check ``grid`` over those schools: gaps, doubles and unusually heavy loads."""
    result = Coverage()
    result.leader_load = {u.id: 0 for u in leaders}
    result.unit_load = {u.id: 0 for u in units}
    for school_id in school_ids:
        linked, packaged = grid.leaders.get(school_id, []), grid.units.get(school_id, [])
        if not linked:
            result.no_leader.append(school_id)
        elif len(linked) > 1:
            result.several_leaders.append(school_id)
        if not packaged:
            result.no_unit.append(school_id)
        for user in linked:
            result.leader_load[user.id] = result.leader_load.get(user.id, 0) + 1
        for unit in packaged:
            result.unit_load[unit.id] = result.unit_load.get(unit.id, 0) + 1
    result.heavy_leaders = _heavy(result.leader_load)
    result.heavy_units = _heavy(result.unit_load)
    return result


# -- changing assignments ------------------------------------------------------------------


def _check_ids(bureau: Organisation, links: set[tuple[int, int]],
               packages: set[tuple[int, int]]) -> dict[int, Organisation]:
    schools = {s.id: s for s in schools_under(bureau) if s.parent_id == bureau.id}
    leader_ids = {u.id for u in leaders_of(bureau)}
    unit_ids = {u.id for u in units_of(bureau)}
    for school_id, user_id in links:
        if school_id not in schools or user_id not in leader_ids:
            raise NotInBureau(f"school {school_id} or leader {user_id} is not the bureau's")
    for school_id, unit_id in packages:
        if school_id not in schools or unit_id not in unit_ids:
            raise NotInBureau(f"school {school_id} or unit {unit_id} is not the bureau's")
    return schools


def set_assignments(
    bureau: Organisation,
    year: SchoolYear,
    links: set[tuple[int, int]],
    packages: set[tuple[int, int]],
    *,
    schools: Iterable[int] | None = None,
    leaders: Iterable[int] | None = None,
    units: Iterable[int] | None = None,
    actor: Any = None,
) -> int:
    """Make ``year``'s assignments match ``links`` (school, leader) and ``packages`` (school, unit).

    Only the part of the grid named by ``schools``, ``leaders`` and ``units`` (each
    None for all) is replaced, so the tenants file can set one leader's schools. Each
    school whose assignments change gets one audit event listing what was added and
    removed. Returns the number of assignments added or removed; raises ``NotInBureau``
    for a school, leader or unit of another bureau.
    """
    if year.bureau_id != bureau.id:
        raise NotInBureau("the school year is another bureau's")
    by_id = _check_ids(bureau, links, packages)
    in_play = set(by_id) if schools is None else set(schools)
    grid = load_grid(year, in_play)

    def part(pairs: set[tuple[int, int]], keep: Iterable[int] | None) -> set[tuple[int, int]]:
        wanted = None if keep is None else set(keep)
        return {(s, o) for s, o in pairs if s in in_play and (wanted is None or o in wanted)}

    current_links, wanted_links = part(grid.links(), leaders), part(links, leaders)
    current_packages, wanted_packages = part(grid.packages(), units), part(packages, units)
    changes: dict[int, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    users = {u.id: u for u in leaders_of(bureau)}
    unit_rows = {u.id: u for u in units_of(bureau)}

    for school_id, user_id in sorted(wanted_links - current_links):
        db.session.add(LinkAssignment(school_id=school_id, school_year_id=year.id, user_id=user_id))
        changes[school_id]["leaders_added"].append(users[user_id].username)
    for school_id, user_id in sorted(current_links - wanted_links):
        db.session.execute(sa.delete(LinkAssignment).where(
            LinkAssignment.school_year_id == year.id, LinkAssignment.school_id == school_id,
            LinkAssignment.user_id == user_id))
        changes[school_id]["leaders_removed"].append(users[user_id].username
                                                     if user_id in users else str(user_id))
    for school_id, unit_id in sorted(wanted_packages - current_packages):
        db.session.add(PackageAssignment(school_id=school_id, school_year_id=year.id,
                                         unit_id=unit_id))
        changes[school_id]["units_added"].append(unit_rows[unit_id].slug)
    for school_id, unit_id in sorted(current_packages - wanted_packages):
        db.session.execute(sa.delete(PackageAssignment).where(
            PackageAssignment.school_year_id == year.id, PackageAssignment.school_id == school_id,
            PackageAssignment.unit_id == unit_id))
        changes[school_id]["units_removed"].append(unit_rows[unit_id].slug
                                                   if unit_id in unit_rows else str(unit_id))
    db.session.flush()
    touch_schools(changes)  # the deletes above bypass the flush that bumps versions
    for school_id, changed in sorted(changes.items()):
        audit.record("liaison.assignments_changed", school=by_id[school_id], actor=actor,
                     data={"school_year": year.name, **changed})
    return sum(len(names) for changed in changes.values() for names in changed.values())


def copy_previous_year(bureau: Organisation, year: SchoolYear, actor: Any = None) -> int:
    """Add last year's assignments to ``year`` (keeping what it has); return how many were added.

    Leaders and units who no longer exist, and schools no longer the bureau's, are skipped.
    """
    before = previous_year(year)
    if before is None:
        raise LiaisonError(_l("There is no earlier school year to copy from."))
    schools = [s.id for s in schools_under(bureau) if s.parent_id == bureau.id]
    old, new = load_grid(before, schools), load_grid(year, schools)
    leader_ids = {u.id for u in leaders_of(bureau)}
    unit_ids = {u.id for u in units_of(bureau)}
    links = new.links() | {(s, u) for s, u in old.links() if u in leader_ids}
    packages = new.packages() | {(s, u) for s, u in old.packages() if u in unit_ids}
    return set_assignments(bureau, year, links, packages, actor=actor)


# -- whose schools ---------------------------------------------------------------------------


def schools_of_user(
    user: Any, bureau: Organisation, year: SchoolYear | None
) -> dict[int, set[str]]:
    """Return ``{school id: {"linked", "packaged"}}`` for the schools ``user`` answers for."""
    if year is None or not getattr(user, "is_authenticated", False):
        return {}
    found: dict[int, set[str]] = defaultdict(set)
    for school_id in db.session.scalars(sa.select(LinkAssignment.school_id).where(
            LinkAssignment.school_year_id == year.id, LinkAssignment.user_id == user.id)):
        found[school_id].add("linked")
    unit_ids = units_of_user(user, bureau)
    if unit_ids:
        for school_id in db.session.scalars(sa.select(PackageAssignment.school_id).where(
                PackageAssignment.school_year_id == year.id,
                PackageAssignment.unit_id.in_(unit_ids))):
            found[school_id].add("packaged")
    return dict(found)


def people_of_school(
    school: Organisation, year: SchoolYear | None
) -> tuple[list[User], list[Unit]]:
    """Return the school's linked leaders and packaging units in ``year``."""
    if year is None:
        return [], []
    grid = load_grid(year, [school.id])
    return list(grid.leaders.get(school.id, [])), list(grid.units.get(school.id, []))


def overdue_recipients(school: Organisation, about_leadership: bool) -> list[User]:
    """Return the linked leaders and the packaging units' staff who answer for ``school``.

    They hear of its overdue opinions and follow its rectification plan. For a report
    about the school's own leadership, nobody who holds a grant on the school itself is
    returned, whatever else they are.
    """
    leaders, units = people_of_school(school, current_year(school))
    unit_ids = {u.id for u in units}
    staff = [user for user in holders("liaison.package", school.bureau(), reach="own")
             if any(g.unit_id in unit_ids for g in user.grants)]
    people = {u.id: u for u in [*leaders, *staff] if u.active}
    if about_leadership:
        people = {uid: u for uid, u in people.items()
                  if not any(g.org_id == school.id for g in u.grants)}
    return [people[uid] for uid in sorted(people)]


# -- liaison visits -------------------------------------------------------------------------


@dataclass(frozen=True)
class FollowUp:
    action: str
    due_on: date


def record_visit(
    school: Organisation,
    visitor: User,
    *,
    visited_on: date,
    purposes: Iterable[str],
    met: str,
    findings: str,
    follow_ups: Iterable[FollowUp] = (),
    today: date | None = None,
) -> LiaisonVisit:
    """Log a visit to ``school``; a visit in the future or without a purpose is refused."""
    today = today or local_date(school)
    chosen = [p for p in PURPOSES if p in set(purposes)]
    if visited_on > today:
        raise LiaisonError(_l("A visit cannot be dated in the future."), "visited_on")
    if not chosen:
        raise LiaisonError(_l("Choose at least one purpose of the visit."), "hear")
    if not met.strip():
        raise LiaisonError(_l("Say whom you met."), "met")
    visit = LiaisonVisit(school_id=school.id, visitor_id=visitor.id, visited_on=visited_on,
                         purposes=",".join(chosen), met=met.strip()[:300],
                         findings=findings.strip())
    for item in follow_ups:
        visit.follow_ups.append(VisitFollowUp(school_id=school.id, action=item.action.strip()[:300],
                                              due_on=item.due_on))
    db.session.add(visit)
    db.session.flush()
    audit.record("liaison.visit_logged", visit, school=school, actor=visitor, data={
        "visited_on": visited_on.isoformat(), "purposes": chosen,
        "follow_ups": [{"action": f.action, "due_on": f.due_on.isoformat()}
                       for f in visit.follow_ups],
    })
    return visit


@dataclass
class VisitLoad:
    """Visits this term by one leader or one unit, and its schools not yet visited."""

    visits: int = 0
    schools: set[int] = field(default_factory=set)
    visited: set[int] = field(default_factory=set)

    @property
    def not_visited(self) -> set[int]:
        return self.schools - self.visited


@dataclass
class VisitSummary:
    """This term's visits: per leader, per unit and per school, and the term itself."""

    leaders: dict[int, VisitLoad]
    units: dict[int, VisitLoad]
    schools: dict[int, int]
    term: Any


def visits_this_term(bureau: Organisation, grid: Grid, school_ids: Iterable[int]) -> VisitSummary:
    """Count the visits of the term under way to those schools, in one query."""
    term = current_term(bureau)
    leaders: dict[int, VisitLoad] = defaultdict(VisitLoad)
    units: dict[int, VisitLoad] = defaultdict(VisitLoad)
    schools: dict[int, int] = defaultdict(int)
    for school_id, users in grid.leaders.items():
        for user in users:
            leaders[user.id].schools.add(school_id)
    for school_id, unit_list in grid.units.items():
        for unit in unit_list:
            units[unit.id].schools.add(school_id)
    if term is None:
        return VisitSummary(dict(leaders), dict(units), {}, None)
    members: dict[int, list[int]] = defaultdict(list)  # user id -> unit ids
    for user in holders("liaison.package", bureau, reach="own"):
        members[user.id] = units_of_user(user, bureau)
    rows = db.session.execute(
        sa.select(LiaisonVisit.visitor_id, LiaisonVisit.school_id, sa.func.count())
        .where(LiaisonVisit.school_id.in_(list(school_ids)),
               LiaisonVisit.visited_on >= term.starts_on, LiaisonVisit.visited_on <= term.ends_on)
        .group_by(LiaisonVisit.visitor_id, LiaisonVisit.school_id)
    )
    for visitor_id, school_id, count in rows:
        schools[school_id] += count
        leaders[visitor_id].visits += count
        leaders[visitor_id].visited.add(school_id)
        for unit_id in members.get(visitor_id, []):
            units[unit_id].visits += count
            units[unit_id].visited.add(school_id)
    return VisitSummary(dict(leaders), dict(units), dict(schools), term)


def follow_ups_due(school: Organisation, today: date | None = None, days: int = 30) -> list[Any]:
    """Return the visits' follow-ups at ``school`` due within ``days`` of today, either side."""
    today = today or local_date(school)
    return list(db.session.scalars(
        sa.select(VisitFollowUp)
        .where(VisitFollowUp.school_id == school.id,
               VisitFollowUp.due_on >= today - timedelta(days=days),
               VisitFollowUp.due_on <= today + timedelta(days=days))
        .order_by(VisitFollowUp.due_on, VisitFollowUp.id)
    ))


def unit_in_use(unit: Unit) -> list[str]:
    """Return why ``unit`` cannot be deleted: the schools it packages this school year (by
    name), and the other years it packages schools in, whose records stay readable."""
    bureau = unit.bureau
    year = current_year(bureau)
    reasons = []
    rows = db.session.execute(all_schools(
        sa.select(PackageAssignment.school_year_id, Organisation.name)
        .join(Organisation, Organisation.id == PackageAssignment.school_id)
        .where(PackageAssignment.unit_id == unit.id)
        .order_by(Organisation.slug))).all()
    current = [name for year_id, name in rows if year is not None and year_id == year.id]
    if current:
        reasons.append(ngettext(
            "It packages %(num)d school this school year: %(schools)s. Take it off in the "
            "assignment grid first.",
            "It packages %(num)d schools this school year: %(schools)s. Take it off in the "
            "assignment grid first.", len(current), schools=name_list(current)))
    other = {year_id for year_id, _name in rows if year is None or year_id != year.id}
    if other:
        names = db.session.scalars(sa.select(SchoolYear.name).where(SchoolYear.id.in_(other))
                                   .order_by(SchoolYear.starts_on)).all()
        reasons.append(ngettext(
            "It packages schools in school year %(years)s; those assignments stay on record.",
            "It packages schools in school years %(years)s; those assignments stay on record.",
            len(names), years=name_list(names)))
    return reasons
