"""The rules of the box: the state machine, the four-not-let-go check, submissions.

No Flask request in here: views and commands call these with explicit actors.
Every function works in the caller's transaction and appends to the case's
timeline and to the audit log.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from sqlalchemy.exc import IntegrityError

from kaimen import (
    Organisation,
    User,
    audit,
    coarse_now,
    db,
    local_date,
    receipts,
    utcnow,
)
from kaimen.uploads import Upload

from . import deadlines, notices
from .blueprint import NAME
from .choices import (
    ACCEPTED,
    ANSWERED,
    CATEGORIES,
    CHANNELS,
    CLOSED,
    FINDINGS,
    HANDLING,
    KINDS,
    NOT_ACCEPTED,
    OPEN_STATUSES,
    RECEIVED,
    REJECTION_REASONS,
    SUBSTANTIATED,
    THREE_DISORDERS,
    VERIFYING,
)
from .models import AnswerTemplate, Attachment, Complaint, ComplaintEvent, Holiday

PLUGIN = NAME

# Where each state may go by a staff action; reopening by the complainant is apart.
TRANSITIONS = {
    RECEIVED: {ACCEPTED, NOT_ACCEPTED},
    ACCEPTED: {VERIFYING, NOT_ACCEPTED},
    VERIFYING: {HANDLING},
    HANDLING: {ANSWERED},
    ANSWERED: {CLOSED},
    CLOSED: set(),
    NOT_ACCEPTED: set(),
}


class WorkflowError(Exception):
    """A step the rules refuse, with a message for the person who tried it."""

    def __init__(self, message: Any) -> None:
        super().__init__(message)
        self.message = message


class FourNotLetGo(WorkflowError):
    """Closing refused: some of the four not-let-go conditions are not met."""

    def __init__(self, missing: list[Any]) -> None:
        super().__init__(_l("This case cannot be closed yet."))
        self.missing = missing


@dataclass
class Submission:
    """What a complainant sent, or what staff copied from a paper form or a call."""

    kind: str
    category: str
    subject: str
    description: str
    channel: str = "online"
    anonymous: bool = True
    contact_name: str | None = None
    contact_phone: str | None = None
    contact_email: str | None = None
    about_leadership: bool = False
    reference: str | None = None
    received_on: date | None = None


def _event(case: Complaint, action: str, *, body: str = "", public: bool = False,
           actor: Any = None, due: date | None = None) -> ComplaintEvent:
    # No actor is the complainant: their steps are stored to the minute, as the filing is.
    event = ComplaintEvent(
        school_id=case.school_id, action=action, status=case.status, body=body, public=public,
        actor_id=getattr(actor, "id", None), due=due,
        created_at=coarse_now() if actor is None else utcnow(),
    )
    case.events.append(event)
    return event


# The audit log shows these in words (the kaimen_audit_actions hook).
AUDIT_ACTIONS = {
    "complaint.filed": _l("Opinion filed"),
    "complaint.accepted": _l("Opinion accepted"),
    "complaint.not_accepted": _l("Opinion not accepted"),
    "complaint.reassigned": _l("Person in charge changed"),
    "complaint.verifying": _l("Verification started"),
    "complaint.handling": _l("Handling started"),
    "complaint.findings": _l("Findings recorded"),
    "complaint.answered": _l("Opinion answered"),
    "complaint.closed": _l("Opinion closed"),
    "complaint.information": _l("Further information from the complainant"),
    "complaint.satisfied": _l("The complainant's verdict"),
    "complaint.urged": _l("Opinion urged by the bureau"),
    "complaint.instructed": _l("Instruction from a bureau leader"),
    "complaint.taken_over": _l("Opinion taken over by the bureau"),
    "complaint.note": _l("Internal note"),
    "complaint.reward_marked": _l("Reporting reward decided"),
    "complaint.reward_paid": _l("Reporting reward paid"),
    "complaint.template_added": _l("Answer template added"),
    "complaint.template_removed": _l("Answer template removed"),
    "complaint.settings_changed": _l("Time limits changed"),
    "complaint.holiday_added": _l("Holiday added"),
    "complaint.holiday_removed": _l("Holiday removed"),
}


def _audit(action: str, case: Complaint, actor: Any, **data: Any) -> None:
    # No actor means the complainant (the public form, tracking by receipt): record it
    # as the public's even when the browser is logged in, or anonymity would be lost.
    audit.record(f"complaint.{action}", case, school=case.school, actor=actor,
                 public=actor is None, data={"status": case.status, **data})


def digest(submission: Submission, uploads: list[Upload]) -> str:
    """Return a SHA-256 fingerprint of what was sent, printed on the proof of filing."""
    parts = [submission.kind, submission.category, submission.subject, submission.description]
    parts += [hashlib.sha256(u.content).hexdigest() for u in uploads]
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()


def file_case(school: Organisation, submission: Submission, uploads: Sequence[Upload] = (), *,
              actor: Any = None, token: str | None = None) -> tuple[Complaint, str]:
    """Open a case with due dates, store its files, issue its receipt; return both."""
    if submission.kind not in KINDS or submission.category not in CATEGORIES:
        raise WorkflowError(_l("Choose a kind and a category from the list."))
    if submission.channel not in CHANNELS:
        raise WorkflowError(_l("Choose a channel from the list."))
    bureau = school.bureau()
    received_on = submission.received_on or local_date(bureau)
    ack_due, answer_due = deadlines.due_dates(bureau, received_on)
    named = not submission.anonymous
    # Sent by the public: stored to the minute, so no log line can be matched with it.
    filed_at = coarse_now() if actor is None else utcnow()
    case = Complaint(
        created_at=filed_at,
        school_id=school.id, school=school, kind=submission.kind, category=submission.category,
        channel=submission.channel, subject=submission.subject, description=submission.description,
        anonymous=not named, about_leadership=submission.about_leadership,
        contact_name=submission.contact_name if named else None,
        contact_phone=submission.contact_phone if named else None,
        contact_email=submission.contact_email if named else None,
        reference=submission.reference, status=RECEIVED, received_on=received_on,
        ack_due=ack_due, answer_due=answer_due, entered_by_id=getattr(actor, "id", None),
        content_digest=digest(submission, list(uploads)),
        # A new case's files are the uploads and nothing else: an empty list says so, where
        # an untouched collection would be loaded by the receipt page (a query for nothing).
        attachments=[],
    )
    for upload in uploads:
        case.attachments.append(Attachment(
            school_id=school.id, filename=upload.filename[:200], content_type=upload.content_type,
            size=len(upload.content), sha256=hashlib.sha256(upload.content).hexdigest(),
            content=upload.content, created_at=filed_at,
        ))
    db.session.add(case)
    _event(case, "entered" if actor is not None else "submitted", public=True, actor=actor)
    db.session.flush()
    code = receipts.issue(PLUGIN, case.id, school.id, token=token)
    _audit("filed", case, actor, channel=case.channel, leadership=case.about_leadership)
    return case, code


def file_batch(school: Organisation, submissions: list[Submission], actor: User) -> None:
    """Open a case for each paper form of a pile entered by ``actor``."""
    for submission in submissions:
        file_case(school, submission, actor=actor)


def _move(case: Complaint, status: str) -> None:
    if status not in TRANSITIONS[case.status]:
        raise WorkflowError(_l("This step is not possible in the case's present state."))
    case.status = status


def accept(case: Complaint, owner: Any, actor: Any, note: str = "") -> None:
    """Accept the case and make ``owner`` responsible for it (first-contact responsibility)."""
    _move(case, ACCEPTED)
    case.owner_id, case.owner = owner.id, owner
    case.acknowledged_at = utcnow()
    _event(case, "accepted", body=note, public=True, actor=actor)
    _audit("accepted", case, actor, owner=owner.username)
    notices.assigned(case, owner)


def reassign(case: Complaint, owner: Any, actor: Any) -> None:
    """Hand an open case to another person in charge."""
    if case.status not in OPEN_STATUSES or case.status == RECEIVED:
        raise WorkflowError(_l("Only an accepted, open case can change hands."))
    case.owner_id, case.owner = owner.id, owner
    _event(case, "reassigned", body=owner.display_name, actor=actor)
    _audit("reassigned", case, actor, owner=owner.username)
    notices.assigned(case, owner)


def reject(case: Complaint, reason: str, explanation: str, actor: Any) -> None:
    """Decline the case with a reason the complainant can read."""
    if reason not in REJECTION_REASONS:
        raise WorkflowError(_l("Choose a reason from the list."))
    _move(case, NOT_ACCEPTED)
    case.rejection_reason = f"{reason}: {explanation}".strip()
    case.acknowledged_at = case.acknowledged_at or utcnow()
    _event(case, "not_accepted", body=explanation, public=True, actor=actor)
    _audit("not_accepted", case, actor, reason=reason)


def advance(case: Complaint, status: str, actor: Any) -> None:
    """Move the case on to verifying or handling."""
    if status not in (VERIFYING, HANDLING):
        raise WorkflowError(_l("This step is not possible in the case's present state."))
    _move(case, status)
    _event(case, status, public=True, actor=actor)
    _audit(status, case, actor)


def record_findings(case: Complaint, finding: str, facts: str, action: str, correction: str,
                    actor: Any) -> None:
    """Record what verification found, what was done, and the correction or discipline."""
    if case.status not in (VERIFYING, HANDLING, ANSWERED):
        raise WorkflowError(_l("Findings are recorded while a case is verified or handled."))
    if finding not in FINDINGS:
        raise WorkflowError(_l("Choose a finding from the list."))
    case.finding, case.verified_facts = finding, facts.strip() or None
    case.action_taken, case.correction = action.strip() or None, correction.strip() or None
    _event(case, "findings", body=finding, actor=actor)
    _audit("findings", case, actor, finding=finding)


def answer(case: Complaint, text: str, actor: Any) -> None:
    """Answer the complainant: shown with the receipt and sent to a named contact."""
    if not text.strip():
        raise WorkflowError(_l("Write the answer."))
    _move(case, ANSWERED)
    now = utcnow()
    answered_on = local_date(case.school.bureau(), now)
    case.answer, case.answered_at = text.strip(), now
    case.answered_on_time = answered_on <= case.answer_due
    case.days_to_answer = max((answered_on - case.received_on).days, 0)
    _event(case, "answered", body=case.answer, public=True, actor=actor)
    _audit("answered", case, actor, on_time=case.answered_on_time)
    notices.answered(case)


def missing_for_closing(case: Complaint) -> list[Any]:
    """Return what the four not-let-go rule still lacks before ``case`` may close."""
    missing = []
    if not case.finding or not case.verified_facts:
        missing.append(_l("the facts are verified: a finding and the verified facts"))
    if not case.action_taken:
        missing.append(_l("the measures are carried out: the action taken"))
    if case.finding in SUBSTANTIATED and not case.correction:
        missing.append(_l("the wrong is corrected and dealt with: the correction or discipline"))
    if not case.answer or case.answered_at is None:
        missing.append(_l("the person who raised it has had an answer"))
    return missing


def close(case: Complaint, actor: Any) -> None:
    """Close the case, refusing while any of the four not-let-go conditions is unmet."""
    if case.status != ANSWERED:
        raise WorkflowError(_l("Only an answered case can be closed."))
    missing = missing_for_closing(case)
    if missing:
        raise FourNotLetGo(missing)
    _move(case, CLOSED)
    case.closed_at = utcnow()
    _event(case, "closed", public=True, actor=actor)
    _audit("closed", case, actor, finding=case.finding)


def add_information(case: Complaint, text: str) -> None:
    """Add the complainant's further information to the timeline."""
    if case.status in (CLOSED,):
        raise WorkflowError(_l("This case is closed. Send a new opinion instead."))
    _event(case, "information", body=text.strip(), public=True)
    _audit("information", case, None)


def feedback(case: Complaint, satisfied: bool, comment: str = "") -> None:
    """Take the complainant's verdict; "not satisfied" reopens and flags the case."""
    if case.status not in (ANSWERED, CLOSED, NOT_ACCEPTED) or case.satisfied is not None:
        raise WorkflowError(_l("You can give your verdict once, after the answer."))
    case.satisfied = satisfied
    if satisfied:
        _event(case, "satisfied", body=comment.strip(), public=True)
    else:
        case.status = HANDLING if case.status != NOT_ACCEPTED else RECEIVED
        case.flagged_for_bureau, case.closed_at = True, None
        _event(case, "dissatisfied", body=comment.strip(), public=True)
        notices.dissatisfied(case)
    _audit("satisfied" if satisfied else "dissatisfied", case, None)


def urge(case: Complaint, note: str, new_due: date, actor: Any) -> None:
    """Urge an open case (督办): a note and a new answer deadline, notified to those in charge."""
    if case.status not in OPEN_STATUSES:
        raise WorkflowError(_l("Only an open case can be urged."))
    today = local_date(case.school.bureau())
    if new_due < today:
        raise WorkflowError(_l("The new deadline cannot be in the past."))
    case.answer_due = new_due
    if case.status == RECEIVED and (case.ack_due < today or case.ack_due > new_due):
        case.ack_due = new_due  # the new deadline is the one that counts, for accepting too
    case.urged_count += 1
    _event(case, "urged", body=note.strip(), actor=actor, due=new_due)
    _audit("urged", case, actor, due=new_due.isoformat())
    notices.urged(case, note.strip(), new_due)


def instruct(case: Complaint, text: str, leader: Any) -> None:
    """Add a bureau leader's instruction (批示): the school's staff see it, the complainant
    does not; the person in charge and the school's administrators are told."""
    if not text.strip():
        raise WorkflowError(_l("Write the instruction."))
    _event(case, "instruction", body=text.strip(), actor=leader)
    _audit("instructed", case, leader)
    notices.instructed(case, text.strip(), leader)


def take_over(case: Complaint, actor: Any) -> None:
    """Let the bureau handle the case itself, with ``actor`` in charge."""
    if case.status not in OPEN_STATUSES or case.handled_by_bureau:
        raise WorkflowError(_l("Only an open case the school handles can be taken over."))
    case.handled_by_bureau = True
    case.owner_id, case.owner = actor.id, actor
    if case.status == RECEIVED:
        case.status, case.acknowledged_at = ACCEPTED, utcnow()
    _event(case, "taken_over", public=True, actor=actor)
    _audit("taken_over", case, actor)


def _refuse_unless_rewardable(case: Complaint) -> None:
    if case.category not in THREE_DISORDERS or case.finding not in SUBSTANTIATED:
        raise WorkflowError(_l("Only substantiated reports of the three disorders earn a reward."))


def mark_reward(case: Complaint, actor: Any) -> None:
    """Mark a substantiated three-disorders report for the reporting reward."""
    _refuse_unless_rewardable(case)
    if case.reward_status is not None:
        raise WorkflowError(_l("The reward is already recorded."))
    case.reward_status = "eligible"
    _event(case, "reward", actor=actor)
    _audit("reward_marked", case, actor)


def record_reward_payment(case: Complaint, amount: str, paid_on: date, actor: Any) -> None:
    """Record that the reporting reward was paid."""
    if case.reward_status != "eligible":
        raise WorkflowError(_l("Mark the case for the reward first."))
    _refuse_unless_rewardable(case)  # the finding may have been revised since the marking
    case.reward_status, case.reward_amount, case.reward_paid_on = "paid", amount.strip(), paid_on
    _event(case, "reward", body=case.reward_amount, actor=actor)
    _audit("reward_paid", case, actor, amount=case.reward_amount)


def note(case: Complaint, text: str, actor: Any) -> None:
    """Add an internal note that the complainant does not see."""
    _event(case, "note", body=text.strip(), actor=actor)
    _audit("note", case, actor)


def overdue_clause(today: date) -> Any:
    """Return the SQL condition of a case past its acknowledgement or answer deadline."""
    return sa.or_(
        sa.and_(Complaint.status == RECEIVED, Complaint.ack_due < today),
        sa.and_(Complaint.status.in_(OPEN_STATUSES), Complaint.answer_due < today),
    )


def is_overdue(case: Complaint, today: date) -> bool:
    """Tell whether ``case`` is past a deadline on ``today``."""
    if case.status == RECEIVED and case.ack_due < today:
        return True
    return case.status in OPEN_STATUSES and case.answer_due < today


def add_template(school: Organisation, title: str, body: str) -> AnswerTemplate:
    """Add a ready-made answer to the school's templates."""
    template = AnswerTemplate(school_id=school.id, title=title, body=body)
    db.session.add(template)
    audit.record("complaint.template_added", template, school=school)
    return template


def remove_template(school: Organisation, template: AnswerTemplate) -> None:
    """Remove one of the school's answer templates."""
    template_id = template.id
    db.session.delete(template)
    audit.record("complaint.template_removed", school=school, data={"id": template_id})


def set_time_limits(bureau: Organisation, acknowledge_days: int, answer_days: int) -> None:
    """Set the bureau's working days to acknowledge and to answer, for cases from now on."""
    settings = deadlines.settings_of(bureau)
    settings.acknowledge_days, settings.answer_days = acknowledge_days, answer_days
    db.session.add(settings)
    audit.record("complaint.settings_changed", bureau=bureau,
                 data={"acknowledge_days": acknowledge_days, "answer_days": answer_days})


def add_holiday(bureau: Organisation, day: date, name: str, working: bool) -> Holiday:
    """Add a day off, or a weekend day worked in exchange, to the bureau's calendar."""
    holiday = Holiday(bureau_id=bureau.id, day=day, name=name, working=working)
    try:
        with db.session.begin_nested():
            db.session.add(holiday)
    except IntegrityError:
        raise WorkflowError(_l("This date is already in the list.")) from None
    audit.record("complaint.holiday_added", bureau=bureau,
                 data={"day": day.isoformat(), "working": working})
    return holiday


def remove_holiday(bureau: Organisation, holiday: Holiday) -> None:
    """Remove a date from the bureau's calendar."""
    db.session.delete(holiday)
    audit.record("complaint.holiday_removed", bureau=bureau,
                 data={"day": holiday.day.isoformat()})


def file_opinion(school: Organisation, subject: str, text: str, channel: str,
                 actor: Any) -> Complaint:
    """File an opinion another plugin heard (a parent on a home visit), as staff enter one."""
    submission = Submission(kind="suggestion", category="other", subject=subject[:200],
                            description=text, channel=channel)
    case, _code = file_case(school, submission, actor=actor)
    return case
