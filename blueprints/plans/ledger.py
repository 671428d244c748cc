"""The rectification ledger (整改台账): progress, evidence, urging (督办) and sign-off (销号).

Each measure of an approved plan is an item. The school reports progress; only the
bureau's supervisors urge, sign off and reopen (the views check the permission,
these check the state). Every change is audited and its followers are told.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import date, datetime, timedelta

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l

from kaimen import Organisation, User, db, local_date, utcnow
from kaimen.uploads import Upload

from . import notices
from .models import (
    APPROVED,
    BASICALLY_DONE,
    DONE,
    IN_PROGRESS,
    ITEM_STATUSES,
    Evidence,
    Measure,
    MeasureNote,
    Plan,
)
from .services import PlanError, linked_cases, record

RECENT_DAYS = 14


def _open_item(measure: Measure) -> None:
    if measure.plan.status != APPROVED:
        raise PlanError(_l("Only a measure of an approved plan is a ledger item."))
    if measure.signed_off:
        raise PlanError(_l("This item is signed off; the bureau must reopen it first."))


def _note(measure: Measure, kind: str, text: str, actor: User | None, *,
          due_on: date | None = None) -> MeasureNote:
    note = MeasureNote(school_id=measure.school_id, measure_id=measure.id, kind=kind, text=text,
                       status=measure.status, due_on=due_on, created_at=utcnow(),
                       author_id=actor.id if actor else None)
    measure.notes.insert(0, note)
    return note


def report_progress(measure: Measure, status: str, text: str, uploads: Sequence[Upload],
                    actor: User | None) -> bool:
    """Record a dated progress note, a new status and evidence; True if the status changed."""
    _open_item(measure)
    text = (text or "").strip()
    if status not in ITEM_STATUSES:
        raise PlanError(_l("Choose a status from the list."))
    changed = status != measure.status
    if not (changed or text or uploads):
        raise PlanError(_l("Write what was done, change the status or add evidence."))
    before = measure.status
    if changed:
        measure.status, measure.status_changed_at = status, utcnow()
    for upload in uploads:
        measure.evidence.append(Evidence(
            school_id=measure.school_id, measure_id=measure.id, filename=upload.filename,
            content_type=upload.content_type, size=len(upload.content),
            sha256=hashlib.sha256(upload.content).hexdigest(), content=upload.content))
    _note(measure, "progress", text, actor)
    db.session.flush()
    record("plan.item_progress", measure, measure.plan.school, actor=actor,
                 data={"from": before, "to": status, "text": text,
                       "evidence": [u.filename for u in uploads]})
    if changed:
        notices.item_changed(measure, ITEM_STATUSES[status])
    return changed


def urge(measure: Measure, text: str, due_on: date | None, actor: User | None) -> Measure:
    """Urge an item (督办): a supervisor's instruction and the date to report by."""
    _open_item(measure)
    text = (text or "").strip()
    if not text or due_on is None:
        raise PlanError(_l("Write the instruction and the date to report by."))
    if due_on < local_date(measure.plan.school.bureau()):
        raise PlanError(_l("The date to report by cannot be in the past."))
    measure.urged_until = due_on
    _note(measure, "urge", text, actor, due_on=due_on)
    record("plan.item_urged", measure, measure.plan.school, actor=actor,
                 data={"text": text, "due_on": due_on.isoformat()})
    notices.urged(measure, text)
    return measure


def sign_off_refusals(measure: Measure) -> list[str]:
    """Return why ``measure`` cannot be signed off yet; empty when it can."""
    reasons = []
    if measure.status != DONE:
        reasons.append(str(_l("the school has not marked it done")))
    if not measure.evidence:
        reasons.append(str(_l("there is no evidence")))
    cases = linked_cases(measure.plan.school, measure.problem.cases)
    open_cases = [f"#{case_id}" for case_id, (_s, _st, finished, _u) in cases.items()
                  if not finished]
    if open_cases:
        reasons.append(str(_l("linked opinions are not closed: %(cases)s",
                              cases=", ".join(open_cases))))
    return reasons


def sign_off(measure: Measure, text: str, actor: User | None) -> Measure:
    """Sign off an item (销号): done, with evidence, every linked opinion closed."""
    _open_item(measure)
    refused = sign_off_refusals(measure)
    if refused:
        raise PlanError(_l("This item cannot be signed off: %(reasons)s.",
                           reasons="; ".join(refused)))
    measure.signed_off_at, measure.signed_off_by_id = utcnow(), actor.id if actor else None
    _note(measure, "signoff", (text or "").strip(), actor)
    record("plan.item_signed_off", measure, measure.plan.school, actor=actor)
    notices.item_changed(measure, _l("signed off"))
    return measure


def reopen(measure: Measure, reason: str, actor: User | None) -> Measure:
    """Reopen a signed-off item with a reason; it goes back to in progress."""
    reason = (reason or "").strip()
    if not measure.signed_off:
        raise PlanError(_l("Only a signed-off item can be reopened."))
    if not reason:
        raise PlanError(_l("Give the reason for reopening the item."))
    measure.signed_off_at, measure.signed_off_by_id = None, None
    measure.status, measure.status_changed_at = IN_PROGRESS, utcnow()
    _note(measure, "reopen", reason, actor)
    record("plan.item_reopened", measure, measure.plan.school, actor=actor,
                 data={"reason": reason})
    notices.item_changed(measure, _l("reopened"))
    return measure


# --- lists -------------------------------------------------------------------------------------

LISTS = {
    "all": _l("All items"),
    "due": _l("Due within 30 days"),
    "overdue": _l("Overdue"),
    "recent": _l("Changed in the last 14 days"),
}


def items(today: date, which: str = "all", school_ids: list[int] | None = None,
          campaign_id: int | None = None) -> list[Measure]:
    """Return the ledger items of the scope's approved plans in list ``which``, by deadline
    (of one campaign's plans when ``campaign_id`` is given, as the umbrella view counts)."""
    statement = (sa.select(Measure).join(Plan, Plan.id == Measure.plan_id)
                 .where(Plan.status == APPROVED))
    if campaign_id is not None:
        statement = statement.where(Plan.campaign_id == campaign_id)
    if school_ids is not None:
        statement = statement.where(Measure.school_id.in_(school_ids))
    unfinished = Measure.status.not_in((BASICALLY_DONE, DONE))
    if which == "due":
        statement = statement.where(unfinished, Measure.deadline >= today,
                                    Measure.deadline <= today + timedelta(days=30))
    elif which == "overdue":
        statement = statement.where(unfinished, Measure.deadline < today)
    elif which == "recent":
        since = datetime.combine(today - timedelta(days=RECENT_DAYS), datetime.min.time())
        statement = statement.where(Measure.status_changed_at >= since)
    return list(db.session.scalars(statement.order_by(Measure.deadline, Measure.id)))


def evidence_of(measure: Measure, evidence_id: int) -> Evidence | None:
    """Return one evidence file of ``measure``, with its content."""
    return db.session.scalar(sa.select(Evidence).where(
        Evidence.id == evidence_id, Evidence.measure_id == measure.id))


def school_today(school: Organisation) -> date:
    """Return today in the school's bureau's calendar."""
    return local_date(school.bureau())
