"""Rules for school years, terms and classes; every write is audited, nothing commits."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any, cast

import sqlalchemy as sa
from flask_babel import gettext as _

from .. import audit, memo
from ..auth.models import RoleGrant, User
from ..extensions import db
from ..orgs import Organisation
from ..timeutil import local_date
from .models import GRADES, SchoolClass, SchoolClassTeacher, SchoolYear, Term

NAME_LENGTH = 40


class ClassError(ValueError):
    """A change the rules refuse, with a translated message for one field."""

    def __init__(self, message: str, field: str) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class TermDates:
    starts_on: date
    ends_on: date


# -- reading ----------------------------------------------------------------------------


def years_of(org: Organisation) -> list[SchoolYear]:
    """Return the school years of ``org``'s bureau, the latest first."""
    return list(
        db.session.scalars(
            sa.select(SchoolYear)
            .where(SchoolYear.bureau_id == org.bureau().id)
            .order_by(SchoolYear.starts_on.desc())
        )
    )


def current_year(org: Organisation, on: date | None = None) -> SchoolYear | None:
    """Return the school year of ``org``'s bureau that covers ``on`` (today, bureau-local)."""
    bureau = org.bureau()
    day = on or local_date(bureau)
    return cast(SchoolYear | None, memo.once(("year", bureau.id, day), lambda: db.session.scalar(
        sa.select(SchoolYear).where(
            SchoolYear.bureau_id == bureau.id,
            SchoolYear.starts_on <= day,
            SchoolYear.ends_on >= day,
        )
    )))


def current_term(org: Organisation, on: date | None = None) -> Term | None:
    """Return the term under way on ``on`` or, in a holiday, the term of that year just ended.

    ``on`` defaults to today in the bureau's time zone. None before the year's
    first term begins, or when no school year covers the day.
    """
    bureau = org.bureau()
    day = on or local_date(bureau)
    return cast(Term | None, memo.once(("term", bureau.id, day), lambda: db.session.scalar(
        sa.select(Term)
        .join(SchoolYear, Term.school_year_id == SchoolYear.id)
        .where(
            Term.bureau_id == bureau.id,
            Term.starts_on <= day,
            SchoolYear.starts_on <= day,
            SchoolYear.ends_on >= day,
        )
        .order_by(Term.starts_on.desc())
        .limit(1)
    )))


def classes_of(school: Organisation, year: SchoolYear | None) -> list[SchoolClass]:
    """Return the classes of ``school`` in ``year``, by grade and name."""
    if year is None:
        return []
    return list(
        db.session.scalars(
            sa.select(SchoolClass)
            .where(SchoolClass.school_id == school.id, SchoolClass.school_year_id == year.id)
            .order_by(SchoolClass.grade, SchoolClass.name)
        )
    )


def classes_taught_by(
    user: Any, school: Organisation, year: SchoolYear | None = None
) -> list[SchoolClass]:
    """Return the classes ``user`` teaches at ``school`` (class teacher or not) this year."""
    year = year or current_year(school)
    if year is None or not getattr(user, "is_authenticated", False):
        return []
    taught = sa.select(SchoolClassTeacher.school_class_id).where(
        SchoolClassTeacher.user_id == user.id
    )
    return list(
        db.session.scalars(
            sa.select(SchoolClass)
            .where(
                SchoolClass.school_id == school.id,
                SchoolClass.school_year_id == year.id,
                sa.or_(SchoolClass.class_teacher_id == user.id, SchoolClass.id.in_(taught)),
            )
            .order_by(SchoolClass.grade, SchoolClass.name)
        )
    )


def teachers_of(school: Organisation) -> list[User]:
    """Return the active users holding the teacher role at ``school``, by username."""
    return list(
        db.session.scalars(
            sa.select(User)
            .where(
                User.active.is_(True),
                User.id.in_(
                    sa.select(RoleGrant.user_id).where(
                        RoleGrant.org_id == school.id, RoleGrant.role == "teacher"
                    )
                ),
            )
            .order_by(User.username)
        )
    )


# -- school years and terms ---------------------------------------------------------------


def check_year(
    bureau: Organisation,
    year: SchoolYear | None,
    name: str,
    starts_on: date,
    ends_on: date,
    terms: Sequence[TermDates],
) -> None:
    """Raise ``ClassError`` unless the year and its terms fit the rules."""
    if not name or len(name) > NAME_LENGTH:
        raise ClassError(_("Give the school year a name of at most 40 characters."), "name")
    if starts_on >= ends_on:
        raise ClassError(_("The school year must end after it starts."), "ends_on")
    if (ends_on - starts_on).days > 400:
        raise ClassError(_("A school year cannot last longer than about a year."), "ends_on")
    others = sa.select(SchoolYear).where(SchoolYear.bureau_id == bureau.id)
    if year is not None and year.id is not None:
        others = others.where(SchoolYear.id != year.id)
    for other in db.session.scalars(others):
        if other.name == name:
            raise ClassError(_("There is already a school year with that name."), "name")
        if starts_on <= other.ends_on and other.starts_on <= ends_on:
            raise ClassError(
                _("These dates overlap the school year %(name)s.", name=other.name), "starts_on"
            )
    previous_end: date | None = None
    for number, term in enumerate(terms, start=1):
        field = f"term{number}"
        if term.starts_on >= term.ends_on:
            raise ClassError(_("A term must end after it starts."), f"{field}_ends_on")
        if term.starts_on < starts_on or term.ends_on > ends_on:
            raise ClassError(_("A term must lie inside its school year."), f"{field}_starts_on")
        if previous_end is not None and term.starts_on <= previous_end:
            raise ClassError(
                _("The second term must start after the first one ends."), f"{field}_starts_on"
            )
        previous_end = term.ends_on


def save_year(
    bureau: Organisation,
    year: SchoolYear | None,
    *,
    name: str,
    starts_on: date,
    ends_on: date,
    terms: Sequence[TermDates],
) -> tuple[SchoolYear, bool]:
    """Create or update a school year with exactly ``terms``; return it and whether it changed."""
    name = name.strip()
    check_year(bureau, year, name, starts_on, ends_on, terms)
    created = year is None
    if year is None:
        year = SchoolYear(bureau_id=bureau.id, name=name, starts_on=starts_on, ends_on=ends_on)
        db.session.add(year)
    changed = _assign(year, {"name": name, "starts_on": starts_on, "ends_on": ends_on})
    by_number = {term.number: term for term in year.terms}
    for number, dates in enumerate(terms, start=1):
        term = by_number.pop(number, None)
        if term is None:
            year.terms.append(
                Term(
                    bureau_id=bureau.id,
                    number=number,
                    starts_on=dates.starts_on,
                    ends_on=dates.ends_on,
                )
            )
            changed = True
        else:
            changed |= _assign(term, {"starts_on": dates.starts_on, "ends_on": dates.ends_on})
    for term in by_number.values():
        year.terms.remove(term)
        changed = True
    if created or changed:
        db.session.flush()
        audit.record(
            "school_year.created" if created else "school_year.changed",
            year,
            bureau=bureau,
            data={
                "name": name,
                "starts_on": starts_on.isoformat(),
                "ends_on": ends_on.isoformat(),
                "terms": [[t.starts_on.isoformat(), t.ends_on.isoformat()] for t in terms],
            },
        )
    return year, created or changed


# -- classes ------------------------------------------------------------------------------


def _check_teacher(allowed: set[int], user: User | None, field: str) -> None:
    if user is not None and user.id not in allowed:
        raise ClassError(
            _("%(name)s is not a teacher of this school.", name=user.display_name), field
        )


def save_class(
    school: Organisation,
    school_class: SchoolClass | None,
    *,
    year: SchoolYear,
    grade: int,
    name: str,
    class_teacher: User | None,
    teachers: Sequence[User] = (),
) -> tuple[SchoolClass, bool]:
    """Create or update a class and set its teachers; return it and whether it changed."""
    name = name.strip()
    if year.bureau_id != school.bureau().id:
        raise ClassError(_("Choose a school year of this bureau."), "school_year")
    if grade not in GRADES:
        raise ClassError(_("Choose a grade from 1 to 12."), "grade")
    if not name or len(name) > NAME_LENGTH:
        raise ClassError(_("Give the class a name of at most 40 characters."), "name")
    allowed = {teacher.id for teacher in teachers_of(school)}
    _check_teacher(allowed, class_teacher, "class_teacher")
    others = {t.id: t for t in teachers if class_teacher is None or t.id != class_teacher.id}
    for teacher in others.values():
        _check_teacher(allowed, teacher, "teachers")
    clash = sa.select(SchoolClass.id).where(
        SchoolClass.school_id == school.id,
        SchoolClass.school_year_id == year.id,
        SchoolClass.grade == grade,
        SchoolClass.name == name,
    )
    if school_class is not None and school_class.id is not None:
        clash = clash.where(SchoolClass.id != school_class.id)
    if db.session.scalar(clash) is not None:
        raise ClassError(_("This school already has that class in that school year."), "name")
    created = school_class is None
    if school_class is None:
        school_class = SchoolClass(school_id=school.id)
        db.session.add(school_class)
    changed = _assign(
        school_class,
        {
            "school_year_id": year.id,
            "grade": grade,
            "name": name,
            "class_teacher_id": class_teacher.id if class_teacher else None,
        },
    )
    current = {link.user_id: link for link in school_class.teacher_links}
    for user_id in sorted(set(others) - set(current)):
        school_class.teacher_links.append(SchoolClassTeacher(school_id=school.id, user_id=user_id))
        changed = True
    for user_id in set(current) - set(others):
        school_class.teacher_links.remove(current[user_id])
        changed = True
    if created or changed:
        db.session.flush()
        audit.record(
            "class.created" if created else "class.changed",
            school_class,
            school=school,
            data={
                "school_year": year.name,
                "grade": grade,
                "name": name,
                "class_teacher": class_teacher.username if class_teacher else None,
                "teachers": sorted(t.username for t in others.values()),
            },
        )
    return school_class, created or changed


def delete_class(school: Organisation, school_class: SchoolClass) -> None:
    """Delete a class that nothing refers to; raise ``ClassError`` when something does."""
    label = school_class.label()
    try:
        with db.session.begin_nested():
            db.session.delete(school_class)
            db.session.flush()
    except sa.exc.IntegrityError:
        raise ClassError(
            _("This class is still in use (students, visits or events refer to it)."), "name"
        ) from None
    audit.record("class.deleted", None, school=school, data={"class": label})


def _assign(obj: Any, values: dict[str, Any]) -> bool:
    changed = False
    for name, value in values.items():
        if getattr(obj, name) != value:
            setattr(obj, name, value)
            changed = True
    return changed
