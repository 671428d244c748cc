"""Shared set-up for the school-year and class tests: a year for county A, a second teacher."""

from __future__ import annotations

from datetime import date
from typing import Any

from kaimen.classes import services
from kaimen.classes.models import SchoolYear
from kaimen.extensions import db

TERMS = [
    services.TermDates(date(2026, 9, 1), date(2027, 1, 31)),
    services.TermDates(date(2027, 2, 22), date(2027, 7, 9)),
]


def make_year(bureau: Any, name: str = "2026-2027", start: int = 2026) -> SchoolYear:
    """Create a September-to-August school year with two terms, committed."""
    terms = [
        services.TermDates(t.starts_on.replace(year=t.starts_on.year - 2026 + start),
                           t.ends_on.replace(year=t.ends_on.year - 2026 + start))
        for t in TERMS
    ]
    year, _changed = services.save_year(
        bureau,
        None,
        name=name,
        starts_on=date(start, 9, 1),
        ends_on=date(start + 1, 8, 31),
        terms=terms,
    )
    db.session.commit()
    return year
