"""The open-day calendar's rules and writes, each write with its audit record.

Capacity holds under concurrent registrations because every write that changes who
holds a seat first locks the event's row (``SELECT … FOR UPDATE`` on PostgreSQL; SQLite
serialises writers, a POST beginning ``IMMEDIATE``) and counts the seats inside that
transaction. No Flask request in here: views pass what the parent or the staff sent.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l

from kaimen import Organisation, audit, db, receipts, utcnow
from kaimen.classes import classes_of, current_year, grade_label

from . import notices
from .models import (
    CANCELLED,
    CONFIRMED,
    DRAFT,
    KINDS,
    SCHEDULED,
    WAITLISTED,
    WITHDRAWN,
    BureauEvent,
    OpenDay,
    OpenDayFeedback,
    Registration,
)

PLUGIN = "opendays"
EVENT_FIELDS = ("kind", "title", "description", "place", "starts_at", "ends_at", "grades",
                "capacity", "registration_opens_at", "registration_closes_at", "max_attendees",
                "feedback_enabled")
NOTIFIED_CHANGES = ("starts_at", "ends_at", "place")


class OpenDayError(Exception):
    """A rule refused the request; ``message`` says why, translated."""

    def __init__(self, message: Any) -> None:
        super().__init__(message)
        self.message = message  # lazy: translated when shown, in the reader's language

    def __str__(self) -> str:
        return str(self.message)


@dataclass
class Applicant:
    """What a parent types into the registration form."""

    name: str
    phone: str
    child_class: str
    attendees: int
    email: str | None = None


# --- events -------------------------------------------------------------------------------


def check_schedule(values: dict[str, Any]) -> None:
    """Refuse an event that ends before it starts or whose registration closes too late."""
    starts, ends = values["starts_at"], values["ends_at"]
    opens, closes = values.get("registration_opens_at"), values.get("registration_closes_at")
    if values.get("kind") not in KINDS:
        raise OpenDayError(_l("Choose the kind of event from the list."))
    if ends <= starts:
        raise OpenDayError(_l("The event must end after it starts."))
    if closes is not None and closes > starts:
        raise OpenDayError(_l("Registration must close before the event starts."))
    if opens is not None and closes is not None and opens >= closes:
        raise OpenDayError(_l("Registration must open before it closes."))
    if values.get("capacity") is not None and values["capacity"] < 1:
        raise OpenDayError(_l("The capacity must be at least one person, or left empty."))
    if values.get("max_attendees", 1) < 1:
        raise OpenDayError(_l("Allow at least one attendee per registration."))


def create_event(school: Organisation, values: dict[str, Any], actor: Any) -> OpenDay:
    """Schedule an event in ``school``; times are naive UTC."""
    check_schedule(values)
    event = OpenDay(school_id=school.id, **{f: values[f] for f in EVENT_FIELDS if f in values})
    db.session.add(event)
    db.session.flush()
    audit.record("opendays.created", event, school=school, actor=actor,
                 data={"title": event.title, "starts_at": event.starts_at.isoformat()})
    return event


def push_event(bureau: Organisation, values: dict[str, Any], schools: list[Organisation],
               allowed: list[Organisation], actor: Any) -> BureauEvent:
    """Push a county-wide event to ``schools``: a draft in each, for the school to fill in.

    ``allowed`` are the schools below the bureau; any other school is refused.
    """
    if not schools:
        raise OpenDayError(_l("Choose at least one school."))
    if {s.id for s in schools} - {s.id for s in allowed}:
        raise OpenDayError(_l("Choose schools of this bureau only."))
    check_schedule(values | {"registration_closes_at": None})
    pushed = BureauEvent(bureau_id=bureau.id, kind=values["kind"], title=values["title"],
                         description=values.get("description", ""),
                         starts_at=values["starts_at"], ends_at=values["ends_at"])
    db.session.add(pushed)
    db.session.flush()
    for school in schools:
        db.session.add(OpenDay(
            school_id=school.id, bureau_event_id=pushed.id, status=DRAFT, kind=pushed.kind,
            title=pushed.title, description=pushed.description, place="",
            starts_at=pushed.starts_at, ends_at=pushed.ends_at,
        ))
    audit.record("opendays.pushed", pushed, bureau=bureau, actor=actor,
                 data={"title": pushed.title, "schools": sorted(s.id for s in schools)})
    return pushed


def lock(event: OpenDay) -> OpenDay:
    """Lock the event's row for the rest of the transaction and reload it."""
    locked = db.session.scalar(
        sa.select(OpenDay).where(OpenDay.id == event.id)
        .with_for_update().execution_options(populate_existing=True)
    )
    assert locked is not None
    return locked


def update_event(event: OpenDay, values: dict[str, Any], actor: Any) -> list[str]:
    """Change an event; tell everyone registered when its time or place moved.

    Returns the names of the fields that changed.
    """
    event = lock(event)
    if event.is_cancelled:
        raise OpenDayError(_l("This event was cancelled: it can no longer be changed."))
    check_schedule(values)
    changed = [f for f in EVENT_FIELDS if f in values and getattr(event, f) != values[f]]
    if event.is_draft:
        # The school filled in the bureau's pushed event: it goes public now.
        if not (values.get("place") or "").strip():
            raise OpenDayError(_l("Say where it takes place."))
        event.status = SCHEDULED
        changed.append("status")
    if not changed:
        return []
    if "capacity" in changed and values["capacity"] is not None:
        taken = seats_taken(event)
        if values["capacity"] < taken:
            raise OpenDayError(_l(
                "%(taken)d seats are already taken: the capacity cannot be lower.", taken=taken))
    for name in changed:
        if name in values:
            setattr(event, name, values[name])
    event.sequence += 1
    event.updated_at = utcnow()
    if "capacity" in changed:
        _promote(event)
    moved = [f for f in changed if f in NOTIFIED_CHANGES]
    if moved:
        notices.tell_everyone(event, "changed")
    audit.record("opendays.changed", event, school=event.school, actor=actor,
                 data={"fields": changed})
    return changed


def cancel_event(event: OpenDay, reason: str, actor: Any) -> None:
    """Cancel an event and tell everyone registered; the feeds keep it as cancelled."""
    event = lock(event)
    if event.is_cancelled:
        raise OpenDayError(_l("This event is already cancelled."))
    if not reason.strip():
        raise OpenDayError(_l("Say why the event is cancelled: the parents will read it."))
    event.status, event.cancel_reason = CANCELLED, reason.strip()
    event.sequence += 1
    event.updated_at = utcnow()
    notices.tell_everyone(event, "cancelled")
    audit.record("opendays.cancelled", event, school=event.school, actor=actor,
                 data={"reason": event.cancel_reason})


# --- seats --------------------------------------------------------------------------------


def seats_taken(event: OpenDay) -> int:
    """Return the attendees of the event's confirmed registrations."""
    return db.session.scalar(
        sa.select(sa.func.coalesce(sa.func.sum(Registration.attendees), 0))
        .where(Registration.open_day_id == event.id, Registration.status == CONFIRMED)
    ) or 0


def seats_left(event: OpenDay) -> int | None:
    """Return the free seats, or None when the event has no limit."""
    if event.capacity is None:
        return None
    return max(event.capacity - seats_taken(event), 0)


def registration_problem(event: OpenDay, now: datetime | None = None) -> Any:
    """Return why the event takes no registration now, or None when it does."""
    now = now or utcnow()
    if event.is_cancelled:
        return _l("This event was cancelled: registration is closed.")
    if event.is_draft:
        return _l("Registration has not opened yet.")
    if event.starts_at <= now:
        return _l("This event has already started or is over: registration is closed.")
    if event.registration_opens_at is not None and now < event.registration_opens_at:
        return _l("Registration has not opened yet.")
    if event.registration_closes_at is not None and now >= event.registration_closes_at:
        return _l("Registration for this event has closed.")
    return None


def audience_choices(school: Organisation, keep: list[str] | None = None) -> list[str]:
    """Return who an event can be for: the grades, then the classes, of the current year.

    They come from the core's class list (``kaimen.classes``), as staff name them
    (一年级, 一年级1班). ``keep`` adds labels an event already has, so editing an event
    scheduled before a class was renamed or removed loses nothing.
    """
    classes = classes_of(school, current_year(school))
    grades = list(dict.fromkeys(grade_label(c.grade) for c in classes))
    choices = grades + [c.label() for c in classes]
    return choices + [label for label in keep or [] if label not in choices]


def replay(school: Organisation, token: str) -> tuple[Registration, str] | None:
    """Return the registration and code an earlier sending of the same form got, if any."""
    earlier = receipts.replay(PLUGIN, school.id, token)
    if earlier is None:
        return None
    registration = db.session.get(Registration, earlier[0])
    return (registration, earlier[1]) if registration is not None else None


def register(event: OpenDay, applicant: Applicant, token: str | None = None,
             now: datetime | None = None) -> tuple[Registration, str]:
    """Register a parent: a seat when one is free, the waitlist when the event is full.

    Returns the registration and its receipt code (shown once). Stores nothing when
    the event is past, cancelled or closed, or asks for too many attendees.
    """
    event = lock(event)
    problem = registration_problem(event, now)
    if problem is not None:
        raise OpenDayError(problem)
    if not 1 <= applicant.attendees <= event.max_attendees:
        raise OpenDayError(_l("Register between 1 and %(most)d attendees.",
                              most=event.max_attendees))
    if event.capacity is not None and applicant.attendees > event.capacity:
        raise OpenDayError(_l("The event has room for %(most)d people in all.",
                              most=event.capacity))
    fits = event.capacity is None or seats_taken(event) + applicant.attendees <= event.capacity
    registration = Registration(
        school_id=event.school_id, open_day=event, name=applicant.name, phone=applicant.phone,
        email=applicant.email or None, child_class=applicant.child_class,
        attendees=applicant.attendees, status=CONFIRMED if fits else WAITLISTED,
    )
    db.session.add(registration)
    db.session.flush()
    code = receipts.issue(PLUGIN, registration.id, event.school_id, token=token)
    audit.record("opendays.registered", registration, school=event.school, public=True,
                 data={"open_day": event.id, "status": registration.status,
                       "attendees": registration.attendees})
    return registration, code


def withdraw(registration: Registration) -> list[Registration]:
    """Withdraw a parent's registration; promote waiting ones into freed seats.

    Returns the registrations promoted (each notified).
    """
    event = lock(registration.open_day)
    db.session.refresh(registration)
    if registration.status == WITHDRAWN:
        raise OpenDayError(_l("This registration was already cancelled."))
    if event.ends_at <= utcnow():
        raise OpenDayError(_l("The event is over: the registration can no longer be cancelled."))
    held_seat = registration.status == CONFIRMED
    registration.status, registration.withdrawn_at = WITHDRAWN, utcnow()
    audit.record("opendays.withdrawn", registration, school=event.school, public=True,
                 data={"open_day": event.id, "held_seat": held_seat})
    return _promote(event) if held_seat and not event.is_cancelled else []


def _promote(event: OpenDay) -> list[Registration]:
    """Give freed seats to waiting registrations in order, each that fits; notify them."""
    waiting = list(db.session.scalars(
        sa.select(Registration)
        .where(Registration.open_day_id == event.id, Registration.status == WAITLISTED)
        .order_by(Registration.id)
    ))
    free = None if event.capacity is None else event.capacity - seats_taken(event)
    promoted = []
    for registration in waiting:
        if free is not None and registration.attendees > free:
            continue
        registration.status, registration.promoted_at = CONFIRMED, utcnow()
        if free is not None:
            free -= registration.attendees
        promoted.append(registration)
        notices.tell(registration, "promoted")
        audit.record("opendays.promoted", registration, school=event.school, public=True,
                     data={"open_day": event.id})
    return promoted


def check_in(registration: Registration, actor: Any) -> None:
    """Record that a confirmed registration's party arrived."""
    event = registration.open_day
    if event.is_cancelled:
        raise OpenDayError(_l("This event was cancelled."))
    if registration.status != CONFIRMED:
        raise OpenDayError(_l("Only a confirmed registration can be checked in."))
    if registration.checked_in_at is not None:
        raise OpenDayError(_l("This registration was already checked in."))
    registration.checked_in_at = utcnow()
    audit.record("opendays.checked_in", registration, school=event.school, actor=actor,
                 data={"open_day": event.id})


def by_code(school: Organisation, code: str) -> Registration | None:
    """Return the registration a receipt code of this school leads to, or None."""
    receipt = receipts.lookup(code)
    if receipt is None or receipt.plugin != PLUGIN or receipt.school_id != school.id:
        return None
    return db.session.get(Registration, receipt.object_id)


def leave_feedback(registration: Registration, satisfaction: int, comment: str) -> None:
    """Store a parent's satisfaction (1–5) with an event they attended or registered for."""
    event = registration.open_day
    if not event.feedback_enabled or event.is_cancelled:
        raise OpenDayError(_l("This event asks for no feedback."))
    if event.ends_at > utcnow():
        raise OpenDayError(_l("Feedback opens when the event is over."))
    if registration.status != CONFIRMED:
        raise OpenDayError(_l("Only parents with a confirmed seat can give feedback."))
    if registration.feedback is not None:
        raise OpenDayError(_l("Thank you: your feedback was already recorded."))
    if not 1 <= satisfaction <= 5:
        raise OpenDayError(_l("Choose a satisfaction from 1 to 5."))
    db.session.add(OpenDayFeedback(school_id=registration.school_id, registration=registration,
                                   satisfaction=satisfaction, comment=comment.strip()))
    audit.record("opendays.feedback", registration, school=event.school, public=True,
                 data={"satisfaction": satisfaction})


def coming(limit: int | None = None, now: datetime | None = None) -> list[OpenDay]:
    """Return the scope's scheduled events that have not ended, soonest first."""
    statement = (sa.select(OpenDay)
                 .where(OpenDay.status == SCHEDULED, OpenDay.ends_at > (now or utcnow()))
                 .order_by(OpenDay.starts_at, OpenDay.id))
    if limit is not None:
        statement = statement.limit(limit)
    return list(db.session.scalars(statement))
