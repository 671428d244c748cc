"""Reading the box for its pages: one case, its files, who may take it, a receipt's case.

Lists of cases are built in ``lists`` (from the request's filters); everything that
changes a case is in ``services``.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from kaimen import Organisation, User, all_schools, db, holders, receipts

from .blueprint import NAME
from .choices import CLOSED, NOT_ACCEPTED, STATUSES
from .models import AnswerTemplate, Attachment, Complaint, with_leadership


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
    """Return who may be put in charge: the school's staff and the bureau's supervisors,
    or only the bureau's for a case the bureau handles (a leadership report too)."""
    people = holders("complaints.supervise", school, reach="above")
    if case is None or not (case.about_leadership or case.handled_by_bureau):
        people += holders("complaints.enter", school, reach="own")
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
