"""Reading the box for its pages: one case, its files, who may take it, a receipt's case.

Lists of cases are built in ``lists`` (from the request's filters); everything that
changes a case is in ``services``.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import sqlalchemy as sa

from kaimen import Organisation, User, all_schools, among, db, holders, receipts

from .blueprint import NAME
from .choices import CLOSED, NOT_ACCEPTED, OPEN_STATUSES, RECEIVED, STATUSES
from .models import AnswerTemplate, Attachment, Complaint, with_leadership


def school_year_start(day: date) -> date:
    """Return the first day of the school year ``day`` falls in, when the bureau keeps no
    school years (``kaimen.classes``): school years start in September."""
    return date(day.year if day.month >= 9 else day.year - 1, 9, 1)


def school_year_label(start: date) -> str:
    """Return a school year as ``2026–2027``, from its first day."""
    return f"{start.year}\u2013{start.year + 1}"


def cases_among(statement: Any, school_ids: list[int], *, leadership: bool,
          since: date | None = None) -> Any:
    """Restrict ``statement`` to the cases every list and figure counts, and nothing else.

    Lists and figures both start here, so a page's total and the umbrella's agree. The
    schools and the leadership rule are written into the WHERE clause as well as lifted
    or kept in the session's criteria: a count through a subquery then says the same.
    """
    statement = statement.where(among(Complaint.school_id, school_ids))
    if since is not None:
        statement = statement.where(Complaint.received_on >= since)
    if leadership:
        return with_leadership(statement)
    return statement.where(Complaint.about_leadership.is_(False))


def replay(school: Organisation, token: str) -> tuple[Complaint, str] | None:
    """Return the case and receipt code an earlier sending of the same form got, if any."""
    earlier = receipts.replay(NAME, school.id, token)
    if earlier is None:
        return None
    case = db.session.scalar(with_leadership(
        sa.select(Complaint).where(Complaint.id == earlier[0], Complaint.school_id == school.id)))
    return (case, earlier[1]) if case is not None else None


def case_by_receipt(receipt: receipts.Receipt) -> Complaint | None:
    """Return the case a receipt of this plugin leads to (the code is the parent's key)."""
    if receipt.plugin != NAME:
        return None
    return db.session.scalar(all_schools(with_leadership(
        sa.select(Complaint).where(Complaint.id == receipt.object_id,
                                   Complaint.school_id == receipt.school_id)
    )))


def find_case(complaint_id: int, *, leadership: bool) -> Complaint | None:
    """Return the school's case; a leadership report only when ``leadership`` (the bureau)."""
    statement = sa.select(Complaint).where(Complaint.id == complaint_id)
    return db.session.scalar(with_leadership(statement) if leadership else statement)


def attachment_of(case: Complaint, attachment_id: int) -> Attachment | None:
    """Return one file of ``case``, with its content."""
    return db.session.scalar(sa.select(Attachment).where(
        Attachment.id == attachment_id, Attachment.complaint_id == case.id))


def answer_templates() -> list[AnswerTemplate]:
    """Return the school's answer templates by title."""
    return list(db.session.scalars(sa.select(AnswerTemplate).order_by(AnswerTemplate.title)))


def possible_owners(school: Organisation, case: Complaint | None) -> list[User]:
    """Return who may be put in charge: the school's own staff for a case the school
    handles; the bureau's supervisors only when it is handed up (taken over by the bureau,
    or a report about the school's leadership)."""
    if case is not None and (case.about_leadership or case.handled_by_bureau):
        people = holders("complaints.supervise", school, reach="above")
    else:
        people = holders("complaints.work", school, reach="own")
    unique = {person.id: person for person in people}
    return sorted(unique.values(), key=lambda person: person.display_name)


def cases_by_id(school: Organisation, ids: list[int]) -> list[tuple[int, str, Any, bool]]:
    """Return ``(id, subject, status label, finished)`` of the school's cases among ``ids``."""
    if not ids:
        return []
    statement = sa.select(Complaint).where(
        Complaint.id.in_(ids), Complaint.school_id == school.id).order_by(Complaint.id)
    return [(case.id, case.subject, STATUSES.get(case.status, case.status),
             case.status in (CLOSED, NOT_ACCEPTED)) for case in db.session.scalars(statement)]


def case_choices(school: Organisation, limit: int = 200) -> list[tuple[int, str]]:
    """Return ``(id, subject)`` of the school's latest cases, newest first."""
    statement = sa.select(Complaint.id, Complaint.subject).where(
        Complaint.school_id == school.id).order_by(Complaint.id.desc()).limit(limit)
    return [(case_id, subject) for case_id, subject in db.session.execute(statement)]


def reachable(person: User) -> bool:
    """Tell whether ``person`` can be notified: an e-mail address or a phone number."""
    return bool(getattr(person, "email", None) or getattr(person, "phone", None))


def cases_in_charge(school: Organisation, user: User, today: date, *,
                    leadership: bool) -> list[Complaint]:
    """Return the open cases of ``school`` that ``user`` is in charge of, the most pressing
    first: overdue, then by the deadline that comes next."""
    due = sa.case((Complaint.status == RECEIVED, Complaint.ack_due), else_=Complaint.answer_due)
    statement = cases_among(sa.select(Complaint), [school.id], leadership=leadership).where(
        Complaint.owner_id == user.id, Complaint.status.in_(OPEN_STATUSES)
    ).order_by(due, Complaint.id).limit(50)
    return list(db.session.scalars(statement))
