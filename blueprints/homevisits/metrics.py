"""Figures for the bureau: coverage, in-person rate, visits per teacher, overdue follow-ups.

Counts and rates only, never a student: nothing here reads a name, a number or
a phone. Each figure is one grouped query for every school.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import url_for
from flask_babel import lazy_gettext as _l

from kaimen import MetricTable, Organisation, SchoolRef, count_holders, local_date
from kaimen.classes import Term, current_term, current_year

from . import queries

COLUMNS = [_l("Students"), _l("Reached this term"), _l("In person"),
           _l("Visits per teacher"), _l("Overdue follow-ups")]


@dataclass
class SchoolFigures:
    """One school's figures for this term."""

    coverage: queries.Coverage
    visits: int
    teachers: int
    overdue: int

    @property
    def per_teacher(self) -> float:
        return self.visits / self.teachers if self.teachers else 0.0


def percent(share: float) -> str:
    return f"{share * 100:.0f}%"


def school_figures(bureau: Organisation, schools: list[Organisation]) -> dict[int, list[int]]:
    """Return each school's raw figures this term, ``[students, reached, in person, visits,
    overdue]``, from its own rows and the bureau's year and term: 5 queries for every school.

    Visits per teacher needs the teachers, read from role grants: ``rows_of`` counts them
    when it builds the rows, never here (a grant bumps no school's version).
    """
    today = local_date(bureau)
    window = queries.term_window(current_term(bureau), today)
    coverage = queries.school_coverage(schools, current_year(bureau), window)
    visits, overdue = queries.bureau_figures(schools, window, today)
    answer = {}
    for s in schools:
        c = coverage.get(s.id, queries.Coverage())
        answer[s.id] = [c.students, c.reached, c.in_person, visits.get(s.id, 0),
                        overdue.get(s.id, 0)]
    return answer


def rows_of(schools: list[Organisation], kept: dict[int, list[int]]
            ) -> tuple[dict[int, SchoolFigures], SchoolFigures]:
    """Return each school's figures and the county's totals from ``kept``
    (``school_figures``), counting the teachers who may log visits: one query."""
    teachers = count_holders("homevisits.log", schools)
    rows = {}
    for s in schools:
        students, reached, in_person, visits, overdue = kept.get(s.id) or [0] * 5
        rows[s.id] = SchoolFigures(queries.Coverage(students, reached, in_person), visits,
                                   teachers.get(s.id, 0), overdue)
    total = SchoolFigures(queries.Coverage(), 0, 0, 0)
    for row in rows.values():
        total.coverage.add(row.coverage)
        total.visits += row.visits
        total.teachers += row.teachers
        total.overdue += row.overdue
    return rows, total


def figures(bureau: Organisation, schools: list[Organisation]
            ) -> tuple[Term | None, dict[int, SchoolFigures], SchoolFigures]:
    """Return the term, each school's figures and the county's totals: 7 queries."""
    rows, total = rows_of(schools, school_figures(bureau, schools))
    return current_term(bureau), rows, total


def cells(row: SchoolFigures) -> list[Any]:
    return [row.coverage.students, percent(row.coverage.reached_share),
            percent(row.coverage.in_person_share), f"{row.per_teacher:.1f}", row.overdue]


def bureau_table(bureau: Organisation, schools: list[Organisation],
                 kept: dict[int, list[int]] | None = None) -> MetricTable:
    """Return the umbrella view's home-visit table: one row per school and the county, from
    ``kept`` (``school_figures``; counted now when None)."""
    rows, total = rows_of(schools, school_figures(bureau, schools) if kept is None else kept)
    table = MetricTable(title=_l("Home visits this term"), columns=list(COLUMNS), order=40,
                        url=url_for("homevisits_bureau.schools", bureau=bureau.slug))
    table.rows = {school_id: cells(row) for school_id, row in rows.items()}
    table.total = cells(total)
    base = table.url or ""

    def school_row(school: SchoolRef | None) -> str:
        return f"{base}#school-{school.slug}" if school is not None else base

    table.links = {1: school_row, 2: school_row}  # coverage: the school's row of figures
    return table

