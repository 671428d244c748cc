"""The rules of the home-visit book and every write, each with its audit call.

Nothing here commits: a view or a command does, once, so a refused change leaves
nothing half-written. Audit payloads hold ids, field names and counts, never a
student's or a guardian's name, number or phone.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import sqlalchemy as sa
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from kaimen import (
    Organisation,
    User,
    audit,
    db,
    holders,
    hook_for,
    local_date,
    user_can,
    utcnow,
)
from kaimen.classes import (
    SchoolClass,
    SchoolYear,
    Term,
    classes_of,
    classes_taught_by,
    current_term,
    current_year,
)

from .models import METHODS, TEXT_LENGTH, TOPICS, HomeVisit, HomeVisitAmendment, Student

AMEND_AFTER = timedelta(days=7)
OPINION_CHANNEL = "home_visit"
# The fields a teacher fills in, in the order an amendment lists them.
FIELDS = ("visited_on", "method", "participants", "topics", "summary", "parents_opinion",
          "follow_up", "follow_up_due")


class VisitError(ValueError):
    """A change the rules refuse, with a translated message for one field ('' for none)."""

    def __init__(self, message: str, field: str = "") -> None:
        super().__init__(message)
        self.field = field


class NotYourStudent(VisitError):
    """The student is in the school but in none of the teacher's classes."""


@dataclass
class VisitValues:
    """What a teacher writes about one contact with a family."""

    visited_on: date
    method: str
    topics: list[str] = field(default_factory=list)
    participants: str = ""
    summary: str = ""
    parents_opinion: str = ""
    follow_up: str = ""
    follow_up_due: date | None = None

    def stored(self) -> dict[str, Any]:
        """Return the values as the visit's columns hold them."""
        values = {name: getattr(self, name) for name in FIELDS}
        values["topics"] = "".join(f",{key}" for key in self.topics) + "," if self.topics else ""
        for name in ("participants", "summary", "parents_opinion", "follow_up"):
            values[name] = values[name].strip()
        return values


# -- who may see whom ----------------------------------------------------------------------


def manages(user: Any, school: Organisation) -> bool:
    """Tell whether ``user`` sees every visit of ``school`` (its admins)."""
    return user_can(user, "homevisits.manage", school)


def year_of(school: Organisation) -> SchoolYear | None:
    return current_year(school)


def current_term_of(school: Organisation) -> Term | None:
    """Return the term whose coverage counts now (the one under way, or just ended)."""
    return current_term(school)


def own_classes(user: Any, school: Organisation) -> list[SchoolClass]:
    """Return the classes whose students ``user`` may log visits for this school year."""
    return classes_taught_by(user, school)


def check_reach(user: Any, school: Organisation, student: Student) -> None:
    """Refuse a student outside the user's classes (a school admin reaches every student)."""
    if manages(user, school):
        return
    if student.school_class_id not in {c.id for c in own_classes(user, school)}:
        raise NotYourStudent(_("This student is not in one of your classes."), "student")


def amend_only(visit: HomeVisit, today: date) -> bool:
    """Tell whether ``visit`` is past its 7 days, so that changes are amendments."""
    return today - visit.created_at.date() >= AMEND_AFTER


# -- the rules on what is written ------------------------------------------------------------


def check_values(school: Organisation, values: VisitValues, today: date) -> None:
    """Refuse a future date, a date before the school year, unknown methods or topics."""
    if values.visited_on > today:
        raise VisitError(_("The date of the visit is in the future."), "visited_on")
    year = year_of(school)
    if year is None:
        raise VisitError(_("The bureau has no school year under way yet."), "visited_on")
    if values.visited_on < year.starts_on:
        raise VisitError(_("The date is before the school year began (%(day)s).",
                           day=year.starts_on.isoformat()), "visited_on")
    _check_choices_and_lengths(values)
    if values.follow_up_due is not None:
        if not values.follow_up.strip():
            raise VisitError(_("Say what is to be followed up by that date."), "follow_up")
        if values.follow_up_due < values.visited_on:
            raise VisitError(_("The follow-up is due before the visit."), "follow_up_due")


def _check_choices_and_lengths(values: VisitValues) -> None:
    if values.method not in METHODS:
        raise VisitError(_("Choose how the family was reached."), "method")
    if not values.topics:
        raise VisitError(_("Choose at least one topic."), "topics")
    if set(values.topics) - set(TOPICS):
        raise VisitError(_("Choose topics from the list."), "topics")
    for name in ("summary", "parents_opinion", "follow_up"):
        if len(getattr(values, name)) > TEXT_LENGTH:
            raise VisitError(_("Write at most %(count)d characters.", count=TEXT_LENGTH), name)
    if len(values.participants) > 200:
        raise VisitError(_("Write at most %(count)d characters.", count=200), "participants")


# -- writes --------------------------------------------------------------------------------


def log_visit(school: Organisation, teacher: User, student: Student,
              values: VisitValues) -> HomeVisit:
    """Log a visit of ``teacher`` to ``student``'s family."""
    check_reach(teacher, school, student)
    check_values(school, values, local_date(school))
    visit = HomeVisit(school_id=school.id, student_id=student.id, teacher_id=teacher.id,
                      school_class_id=student.school_class_id, **values.stored())
    visit.student, visit.teacher = student, teacher
    db.session.add(visit)
    audit.record("homevisits.visit_logged", visit, school=school, actor=teacher,
                 data={"student": student.id, "method": values.method})
    return visit


def change_visit(school: Organisation, visit: HomeVisit, user: User, values: VisitValues,
                 reason: str = "") -> list[str]:
    """Change the author's own visit; after 7 days only as an amendment with a reason.

    Return the names of the fields that changed (none: nothing is written).
    """
    if visit.teacher_id != user.id:
        raise VisitError(_("Only the teacher who logged a visit may change it."))
    today = local_date(school)
    check_values(school, values, today)
    new = values.stored()
    changed = [name for name in FIELDS if getattr(visit, name) != new[name]]
    if not changed:
        return []
    amending = amend_only(visit, today)
    if amending and not reason.strip():
        raise VisitError(_("Say why the entry is amended."), "reason")
    before = {name: _json(getattr(visit, name)) for name in changed}
    for name in changed:
        setattr(visit, name, new[name])
    visit.updated_at = utcnow()
    if amending:
        amendment = HomeVisitAmendment(
            school_id=school.id, visit=visit, author_id=user.id, reason=reason.strip(),
            changes={name: [before[name], _json(new[name])] for name in changed},
        )
        db.session.add(amendment)
        audit.record("homevisits.visit_amended", visit, school=school, actor=user,
                     data={"fields": changed, "amendment": _id_of(amendment)})
    else:
        audit.record("homevisits.visit_edited", visit, school=school, actor=user,
                     data={"fields": changed})
    return changed


def complete_follow_up(school: Organisation, visit: HomeVisit, user: User) -> HomeVisit:
    """Mark the visit's follow-up done today."""
    if not manages(user, school) and visit.teacher_id != user.id:
        raise VisitError(_("Only the teacher who logged a visit may change it."))
    if visit.follow_up_due is None or visit.follow_up_done_on is not None:
        raise VisitError(_("This visit has no open follow-up."))
    visit.follow_up_done_on = local_date(school)
    audit.record("homevisits.follow_up_done", visit, school=school, actor=user,
                 data={"visit": visit.id})
    return visit


def send_opinion(school: Organisation, visit: HomeVisit, user: User) -> str:
    """Hand the parents' opinion to the complaint box; return the staff link of its case.

    Through the complaint box's hook ``kaimen_complaint_file_opinion`` (no import
    between plugins). The case names the visit, never the student.
    """
    if visit.teacher_id != user.id and not manages(user, school):
        raise VisitError(_("Only the teacher who logged a visit may change it."))
    if not visit.parents_opinion.strip():
        raise VisitError(_("The visit records no opinion of the parents."))
    if visit.opinion_case_url:
        raise VisitError(_("This opinion was already sent to the opinion box."))
    caller = _file_hook(school)
    if caller is None:
        raise VisitError(_("The opinion box is not open at this school."))
    url = caller(school=school, subject=_("Opinion heard on a home visit (%(day)s)",
                                          day=visit.visited_on.isoformat()),
                 text=visit.parents_opinion, channel=OPINION_CHANNEL, actor=user)
    if not url:
        raise VisitError(_("The opinion box is not open at this school."))
    visit.opinion_case_url = url
    audit.record("homevisits.opinion_sent", visit, school=school, actor=user,
                 data={"visit": visit.id})
    return url


def opinion_box_open(school: Organisation) -> bool:
    """Tell whether a plugin takes parents' opinions for ``school`` (the complaint box)."""
    return _file_hook(school) is not None


def _file_hook(school: Organisation) -> Any:
    """Return the complaint box's filing hook for ``school``, None when no plugin offers it."""
    try:
        caller = hook_for(school, "kaimen_complaint_file_opinion")
    except AttributeError:
        return None
    return caller if caller.get_hookimpls() else None


def _json(value: Any) -> Any:
    return value.isoformat() if isinstance(value, date) else value


def _id_of(row: Any) -> int:
    db.session.flush()
    return int(row.id)



# -- what the pages list ------------------------------------------------------------------------


def classes_of_year(school: Organisation) -> list[SchoolClass]:
    """Return the school's classes of the school year under way."""
    return classes_of(school, year_of(school))


def teachers(school: Organisation) -> list[User]:
    """Return the school's own staff who may log visits, by username."""
    return holders("homevisits.log", school, reach="own")


EXPORT_HEADINGS = (_l("Date"), _l("Student number"), _l("Student"), _l("Class"), _l("Teacher"),
                   _l("How"), _l("Who took part"), _l("Topics"), _l("Summary"),
                   _l("Parents' opinions"), _l("Follow-up actions"), _l("Follow-up due"),
                   _l("Follow-up done"))


def export_rows(school: Organisation,
                visits: Iterable[HomeVisit]) -> tuple[list[str], list[list[Any]]]:
    """Return the heading and rows of the school's export (names stay in the school)."""
    locale = str(get_locale())
    classes = {c.id: c.label(locale) for c in db.session.scalars(
        sa.select(SchoolClass).where(SchoolClass.school_id == school.id))}
    rows = []
    for visit in visits:
        rows.append([visit.visited_on, visit.student.number, visit.student.name,
                     classes.get(visit.school_class_id or 0, ""), visit.teacher.display_name,
                     visit.method_label, visit.participants, "、".join(visit.topic_labels),
                     visit.summary, visit.parents_opinion, visit.follow_up, visit.follow_up_due,
                     visit.follow_up_done_on])
    return [str(h) for h in EXPORT_HEADINGS], rows
