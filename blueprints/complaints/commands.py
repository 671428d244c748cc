"""``flask kaimen complaints …``: the overdue sweep, run from cron."""

from __future__ import annotations

from typing import Any

import click
import sqlalchemy as sa
from sqlalchemy.orm import selectinload

from kaimen import Organisation, db, local_date, transactional

from . import notices
from .choices import RECEIVED
from .models import Complaint, OverdueNotice, with_leadership
from .services import overdue_clause


def sweep() -> tuple[int, int]:
    """Enqueue a notice for each deadline of each case newly found overdue, once.

    Returns (cases noticed, messages enqueued). Runs in the system scope.
    """
    noticed = messages = 0
    bureaus = [org for org in db.session.scalars(sa.select(Organisation)) if org.is_bureau]
    for bureau in bureaus:
        school_ids = [s.id for s in bureau.children if s.is_school]
        if not school_ids:
            continue
        today = local_date(bureau)
        overdue = db.session.scalars(with_leadership(
            sa.select(Complaint).options(selectinload(Complaint.school))
            .where(Complaint.school_id.in_(school_ids), overdue_clause(today))
            .order_by(Complaint.id)
        )).all()
        already = _already_noticed([c.id for c in overdue])
        for case in overdue:
            deadline, due = (("ack", case.ack_due) if case.status == RECEIVED and
                             case.ack_due < today else ("answer", case.answer_due))
            if (case.id, deadline, due) in already:
                continue
            db.session.add(OverdueNotice(school_id=case.school_id, complaint_id=case.id,
                                         deadline=deadline, due=due))
            messages += notices.overdue(case, deadline, due)
            noticed += 1
    return noticed, messages


def _already_noticed(case_ids: list[int]) -> set[tuple[int, str, Any]]:
    if not case_ids:
        return set()
    rows = db.session.execute(sa.select(
        OverdueNotice.complaint_id, OverdueNotice.deadline, OverdueNotice.due
    ).where(OverdueNotice.complaint_id.in_(case_ids))).all()
    return {tuple(row) for row in rows}  # type: ignore[misc]


def register(group: Any) -> None:
    """Add the ``complaints`` commands to ``flask kaimen``."""

    @group.group("complaints")
    def complaints() -> None:
        """The complaint box."""

    @complaints.command("overdue")
    @transactional
    def overdue_command() -> None:
        """Tell the school's admins and the bureau of cases past a deadline (once each)."""
        noticed, messages = sweep()
        click.echo(f"{noticed} overdue cases noticed, {messages} messages enqueued")
