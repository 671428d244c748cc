"""The tenants file's ``[[school_year]]`` and ``[[class]]`` sections.

```toml
[[school_year]]
bureau = "jiayu"
name = "2026-2027"
starts_on = 2026-09-01
ends_on = 2027-08-31
terms = [{ starts_on = 2026-09-01, ends_on = 2027-01-31 },
         { starts_on = 2027-02-22, ends_on = 2027-07-09 }]

[[class]]
school = "shiyan-xiaoxue"
school_year = "2026-2027"
grade = 1                      # or "一年级", "初一", "高一"
name = "1班"
class_teacher = "sxx.teacher"  # usernames of teachers of that school
teachers = ["sxx.teacher2"]
```

Loaded after the users, through the same services as the admin pages, so the
same rules hold (years do not overlap, terms lie inside their year, teachers
teach at that school). A class's teachers are set to exactly what the file
lists; classes and years the file does not name are left alone.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import sqlalchemy as sa
from flask_babel import force_locale

from .. import orgs
from ..auth.models import User
from ..extensions import db
from . import services
from .importer import parse_grade
from .models import SchoolClass, SchoolYear

SECTIONS = ("school_year", "class")
YEAR_FIELDS = {"bureau", "name", "starts_on", "ends_on", "terms"}
CLASS_FIELDS = {"school", "school_year", "grade", "name", "class_teacher", "teachers"}


def load(loader: Any) -> None:
    """Load both sections with ``loader`` (``provisioning._Loader``); messages in English."""
    with force_locale("en"):
        _load_years(loader)
        _load_classes(loader)


def _items(loader: Any, key: str, allowed: set[str], required: set[str]) -> list[tuple[str, dict]]:
    items = loader.document.get(key, [])
    if not isinstance(items, list):
        raise loader.fail(key, f"must be an array of tables ([[{key}]])")
    checked = []
    for index, item in enumerate(items):
        where = f"{key}[{index}]"
        if not isinstance(item, dict):
            raise loader.fail(where, "must be a table")
        unknown = sorted(set(item) - allowed)
        if unknown:
            raise loader.fail(f"{where}.{unknown[0]}", "unknown field")
        for name in sorted(required):
            if name not in item or item[name] in ("", None):
                raise loader.fail(f"{where}.{name}", "is required")
        checked.append((where, item))
    return checked


def _string(loader: Any, where: str, value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise loader.fail(where, "must be a non-empty string")
    return value.strip()


def _date(loader: Any, where: str, value: Any) -> date:
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value)
        except ValueError:
            pass
    raise loader.fail(where, "must be a date such as 2026-09-01")


def _term_place(where: str, field: str) -> str:
    """Turn a service's field name (``term2_starts_on``) into the file's (``terms[1]…``)."""
    if field.startswith("term") and field[4:5].isdigit():
        return f"{where}.terms[{int(field[4]) - 1}].{field[6:]}"
    return f"{where}.{field}"


def _load_years(loader: Any) -> None:
    for where, item in _items(
        loader, "school_year", YEAR_FIELDS, {"bureau", "name", "starts_on", "ends_on"}
    ):
        bureau = loader.org(
            f"{where}.bureau", _string(loader, f"{where}.bureau", item["bureau"]), orgs.BUREAU
        )
        name = _string(loader, f"{where}.name", item["name"])
        terms_in = item.get("terms", [])
        if not isinstance(terms_in, list) or len(terms_in) > 2:
            raise loader.fail(f"{where}.terms", "must list at most two terms")
        terms = []
        for index, term in enumerate(terms_in):
            twhere = f"{where}.terms[{index}]"
            if not isinstance(term, dict) or set(term) != {"starts_on", "ends_on"}:
                raise loader.fail(twhere, "must be {starts_on = 2026-09-01, ends_on = 2027-01-31}")
            terms.append(
                services.TermDates(
                    _date(loader, f"{twhere}.starts_on", term["starts_on"]),
                    _date(loader, f"{twhere}.ends_on", term["ends_on"]),
                )
            )
        year = db.session.scalar(sa.select(SchoolYear).filter_by(bureau_id=bureau.id, name=name))
        try:
            _saved, changed = services.save_year(
                bureau,
                year,
                name=name,
                starts_on=_date(loader, f"{where}.starts_on", item["starts_on"]),
                ends_on=_date(loader, f"{where}.ends_on", item["ends_on"]),
                terms=terms,
            )
        except services.ClassError as error:
            raise loader.fail(_term_place(where, error.field), str(error)) from None
        if year is None:
            loader.report.created += 1
        elif changed:
            loader.report.updated += 1


def _teacher(loader: Any, where: str, value: Any) -> User:
    username = _string(loader, where, value).lower()
    user = db.session.scalar(sa.select(User).where(User.username == username))
    if user is None:
        raise loader.fail(where, f"no user {username!r} in this file or the database")
    return user


def _load_classes(loader: Any) -> None:
    for where, item in _items(
        loader, "class", CLASS_FIELDS, {"school", "school_year", "grade", "name"}
    ):
        school = loader.org(
            f"{where}.school", _string(loader, f"{where}.school", item["school"]), orgs.SCHOOL
        )
        year_name = _string(loader, f"{where}.school_year", item["school_year"])
        year = db.session.scalar(
            sa.select(SchoolYear).filter_by(bureau_id=school.bureau().id, name=year_name)
        )
        if year is None:
            raise loader.fail(
                f"{where}.school_year", f"no school year {year_name!r} of the school's bureau"
            )
        grade = parse_grade(str(item["grade"]))
        if grade is None:
            raise loader.fail(f"{where}.grade", "give a grade from 1 to 12, or 七年级, 高一 …")
        name = _string(loader, f"{where}.name", item["name"])
        class_teacher = (
            _teacher(loader, f"{where}.class_teacher", item["class_teacher"])
            if "class_teacher" in item
            else None
        )
        listed = item.get("teachers", [])
        if not isinstance(listed, list):
            raise loader.fail(f"{where}.teachers", "must be an array of usernames")
        teachers = [
            _teacher(loader, f"{where}.teachers[{i}]", value) for i, value in enumerate(listed)
        ]
        existing = db.session.scalar(
            sa.select(SchoolClass).filter_by(
                school_id=school.id, school_year_id=year.id, grade=grade, name=name
            )
        )
        try:
            _saved, changed = services.save_class(
                school,
                existing,
                year=year,
                grade=grade,
                name=name,
                class_teacher=class_teacher,
                teachers=teachers,
            )
        except services.ClassError as error:
            raise loader.fail(f"{where}.{error.field}", str(error)) from None
        if existing is None:
            loader.report.created += 1
        elif changed:
            loader.report.updated += 1
    db.session.flush()
