"""Figures for the bureau: coverage, in-person rate, visits per teacher, overdue follow-ups.

Counts and rates only, never a student: nothing here reads a name, a number or
a phone. Each figure is one grouped query for every school.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import url_for
from flask_babel import lazy_gettext as _l

from kaimen import MetricTable, Organisation, count_holders, local_date
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


def figures(bureau: Organisation, schools: list[Organisation]
            ) -> tuple[Term | None, dict[int, SchoolFigures], SchoolFigures]:
    """Return the term, each school's figures and the county's totals: 4 queries or so."""
    today = local_date(bureau)
    term = current_term(bureau)
    window = queries.term_window(term, today)
    coverage = queries.school_coverage(schools, current_year(bureau), window)
    visits, overdue = queries.bureau_figures(schools, window, today)
    teachers = count_holders("homevisits.log", schools)
    rows = {s.id: SchoolFigures(coverage.get(s.id, queries.Coverage()), visits.get(s.id, 0),
                                teachers.get(s.id, 0), overdue.get(s.id, 0)) for s in schools}
    total = SchoolFigures(queries.Coverage(), 0, 0, 0)
    for row in rows.values():
        total.coverage.add(row.coverage)
        total.visits += row.visits
        total.teachers += row.teachers
        total.overdue += row.overdue
    return term, rows, total


def cells(row: SchoolFigures) -> list[Any]:
    return [row.coverage.students, percent(row.coverage.reached_share),
            percent(row.coverage.in_person_share), f"{row.per_teacher:.1f}", row.overdue]


def bureau_table(bureau: Organisation, schools: list[Organisation]) -> MetricTable:
    """Return the umbrella view's home-visit table: one row per school and the county."""
    _term, rows, total = figures(bureau, schools)
    table = MetricTable(title=_l("Home visits this term"), columns=list(COLUMNS), order=40,
                        url=url_for("homevisits_bureau.schools", bureau=bureau.slug))
    table.rows = {school_id: cells(row) for school_id, row in rows.items()}
    table.total = cells(total)
    base = table.url or ""

    def school_row(school: Organisation | None) -> str:
        return f"{base}#school-{school.slug}" if school is not None else base

    table.links = {1: school_row, 2: school_row}  # coverage: the school's row of figures
    return table

