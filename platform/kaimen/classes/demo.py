"""Demo rows: the bureau's current school year with its terms, and two classes per school.

Registered with the plugin manager by the core (see ``kaimen.plugins``), so
``flask kaimen demo load`` and the isolation harness get a school year per
bureau and a class per school, as for any plugin's models.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from ..hookspecs import hookimpl
from ..orgs import Organisation
from ..timeutil import local_date
from . import services

CLASS_NAMES = ("1班", "2班")


def year_dates(today: date) -> tuple[str, date, date, list[services.TermDates]]:
    """Return the name, dates and terms of the school year (September to August) of ``today``."""
    start = today.year if today.month >= 9 else today.year - 1
    terms = [
        services.TermDates(date(start, 9, 1), date(start + 1, 1, 31)),
        services.TermDates(date(start + 1, 2, 20), date(start + 1, 7, 10)),
    ]
    return f"{start}-{start + 1}", date(start, 9, 1), date(start + 1, 8, 31), terms


@hookimpl(tryfirst=True)  # plugins' demo rows may need the classes
def kaimen_demo_data(bureau: Organisation, schools: list[Organisation], users: dict[str, Any]):
    """Give the bureau its current school year and each school without classes two of them."""
    if not schools:
        return
    year = services.current_year(bureau)
    if year is None:
        name, starts_on, ends_on, terms = year_dates(local_date(bureau))
        if name in {y.name for y in services.years_of(bureau)}:
            return  # a year of that name with other dates: the bureau's own, keep it
        year, _changed = services.save_year(
            bureau, None, name=name, starts_on=starts_on, ends_on=ends_on, terms=terms
        )
    for school in schools:
        if services.classes_of(school, year):
            continue
        teachers = services.teachers_of(school)
        grade = 1 if "小学" in school.name else 7
        for index, name in enumerate(CLASS_NAMES):
            services.save_class(
                school,
                None,
                year=year,
                grade=grade,
                name=name,
                class_teacher=teachers[index % len(teachers)] if teachers else None,
            )
