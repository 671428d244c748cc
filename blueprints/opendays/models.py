"""Open days, open weeks and parent-school sessions, the parents registered for them,
and their feedback: all owned by one school."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from kaimen import Model, Organisation, TenantOwned, utcnow

OPEN_DAY, OPEN_WEEK, PARENT_SCHOOL, OTHER = "open_day", "open_week", "parent_school", "other"
KINDS = (OPEN_DAY, OPEN_WEEK, PARENT_SCHOOL, OTHER)

# A bureau's pushed event starts as a draft in each school, until the school fills in
# its own details (place, capacity, registration) and publishes it.
DRAFT, SCHEDULED, CANCELLED = "draft", "scheduled", "cancelled"
CONFIRMED, WAITLISTED, WITHDRAWN = "confirmed", "waitlisted", "withdrawn"

TITLE_MAX, PLACE_MAX, GRADES_MAX, NAME_MAX, PHONE_MAX, EMAIL_MAX, CLASS_MAX = (
    200, 200, 200, 80, 40, 200, 40)


class BureauEvent(Model):
    """A county-wide event (an open week) the bureau pushes to all or some of its schools."""

    __tablename__ = "open_day_bureau_event"

    id: Mapped[int] = mapped_column(primary_key=True)
    bureau_id: Mapped[int] = mapped_column(sa.ForeignKey("organisation.id"), index=True)
    kind: Mapped[str] = mapped_column(sa.String(16))
    title: Mapped[str] = mapped_column(sa.String(TITLE_MAX))
    description: Mapped[str] = mapped_column(sa.Text, default="")
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class OpenDay(TenantOwned, Model):
    """An event a school opens its doors for: open day, open week, parent-school session."""

    __tablename__ = "open_day"
    __table_args__ = (sa.Index("ix_open_day_school_starts", "school_id", "starts_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(sa.String(16))
    title: Mapped[str] = mapped_column(sa.String(TITLE_MAX))
    description: Mapped[str] = mapped_column(sa.Text, default="")
    place: Mapped[str] = mapped_column(sa.String(PLACE_MAX))
    # Naive UTC, as everything is stored; shown in the bureau's time zone.
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime]
    # The grades or classes it is for, comma-separated (一年级,二年级); empty means everyone.
    grades: Mapped[str] = mapped_column(sa.String(GRADES_MAX), default="")
    capacity: Mapped[int | None]  # people, attendees counted; None means no limit
    registration_opens_at: Mapped[datetime | None]
    registration_closes_at: Mapped[datetime | None]
    max_attendees: Mapped[int] = mapped_column(default=2)  # per registration
    feedback_enabled: Mapped[bool] = mapped_column(default=True)
    status: Mapped[str] = mapped_column(sa.String(16), default=SCHEDULED)
    cancel_reason: Mapped[str | None] = mapped_column(sa.Text)
    # Set when the bureau pushed this event to the school.
    bureau_event_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("open_day_bureau_event.id"), index=True)
    # Bumped on every change a calendar must pick up (iCalendar SEQUENCE).
    sequence: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)

    school: Mapped[Organisation] = relationship()
    registrations: Mapped[list[Registration]] = relationship(
        back_populates="open_day", order_by="Registration.id"
    )

    @property
    def is_cancelled(self) -> bool:
        return self.status == CANCELLED

    @property
    def is_draft(self) -> bool:
        return self.status == DRAFT

    @property
    def grade_list(self) -> list[str]:
        return [g for g in self.grades.split(",") if g]


class Registration(TenantOwned, Model):
    """A parent's registration: confirmed, on the waitlist, or withdrawn."""

    __tablename__ = "open_day_registration"
    __table_args__ = (
        sa.Index("ix_open_day_registration_queue", "open_day_id", "status", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    open_day_id: Mapped[int] = mapped_column(sa.ForeignKey("open_day.id"))
    name: Mapped[str] = mapped_column(sa.String(NAME_MAX))
    phone: Mapped[str] = mapped_column(sa.String(PHONE_MAX))
    email: Mapped[str | None] = mapped_column(sa.String(EMAIL_MAX))
    child_class: Mapped[str] = mapped_column(sa.String(CLASS_MAX), default="")
    attendees: Mapped[int] = mapped_column(default=1)
    status: Mapped[str] = mapped_column(sa.String(16))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    promoted_at: Mapped[datetime | None]
    withdrawn_at: Mapped[datetime | None]
    checked_in_at: Mapped[datetime | None]

    open_day: Mapped[OpenDay] = relationship(back_populates="registrations")
    feedback: Mapped[OpenDayFeedback | None] = relationship(back_populates="registration")


class OpenDayFeedback(TenantOwned, Model):
    """A parent's short verdict on an event they registered for."""

    __tablename__ = "open_day_feedback"

    id: Mapped[int] = mapped_column(primary_key=True)
    registration_id: Mapped[int] = mapped_column(
        sa.ForeignKey("open_day_registration.id"), unique=True
    )
    satisfaction: Mapped[int]  # 1 to 5
    comment: Mapped[str] = mapped_column(sa.Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    registration: Mapped[Registration] = relationship(back_populates="feedback")
