"""Fixtures of the liaison tests: English pages, and two school years of county A."""

from __future__ import annotations

from datetime import date, timedelta
from types import SimpleNamespace
from typing import Any

import pytest

from kaimen import local_date
from kaimen.classes import SchoolYear, Term
from kaimen.extensions import db


def english(client: Any) -> Any:
    """Ask for English pages, so assertions do not depend on the catalogue."""
    client.set_cookie("kaimen_locale", "en")
    return client


@pytest.fixture
def client(app: Any) -> Any:
    return english(app.test_client())


def add_year(bureau: Any, starts_on: date, name: str) -> SchoolYear:
    ends_on = starts_on.replace(year=starts_on.year + 1) - timedelta(days=1)
    year = SchoolYear(bureau_id=bureau.id, name=name, starts_on=starts_on, ends_on=ends_on)
    middle = starts_on + timedelta(days=182)
    year.terms = [
        Term(bureau_id=bureau.id, number=1, starts_on=starts_on, ends_on=middle),
        Term(bureau_id=bureau.id, number=2, starts_on=middle + timedelta(days=1), ends_on=ends_on),
    ]
    db.session.add(year)
    db.session.flush()
    return year


@pytest.fixture
def years(county: Any) -> SimpleNamespace:
    """County A's current school year (covering today) and the one before it."""
    today = local_date(county.a)
    start = today - timedelta(days=30)
    current = add_year(county.a, start, f"{start.year}-{start.year + 1}")
    before = add_year(county.a, start.replace(year=start.year - 1),
                      f"{start.year - 1}-{start.year}")
    db.session.commit()
    return SimpleNamespace(current=current, before=before, today=today)
