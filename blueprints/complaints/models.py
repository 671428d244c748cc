"""The complaint box's records: cases, their timeline, attachments, deadlines settings."""

from __future__ import annotations

from datetime import date, datetime
from typing import TypeVar

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship
from sqlalchemy.sql import Executable

from kaimen import Model, Organisation, StatementCriteria, TenantOwned, User, utcnow

S = TypeVar("S", bound=Executable)

# Statement option that lets a query see reports about a school's own leadership.
LEADERSHIP_OPTION = "complaints_leadership"


class Complaint(TenantOwned, Model):
    """An opinion, complaint, suggestion or praise received by a school's box."""

    __tablename__ = "complaint"
    # A new opinion ages the school page (it counts them), never a public form.
    form_neutral = True
    __table_args__ = (
        sa.Index("ix_complaint_school_status", "school_id", "status"),
        # The umbrella view's figures for every school at once, read from indexes alone:
        # the reports about pledges, and this school year's cases with every column the
        # figures and the answer-time histogram count (metrics.bureau_table).
        sa.Index("ix_complaint_school_reference", "school_id", "reference", "finding",
                 "about_leadership"),
        sa.Index("ix_complaint_school_received_figures", "school_id", "received_on", "status",
                 "about_leadership", "ack_due", "answer_due", "answered_at", "answered_on_time",
                 "satisfied", "days_to_answer"),
        # Every case list's order and restrictions: a typed ?page=N finds the key of the
        # row before it in this index alone (kaimen.pagination).
        sa.Index("ix_complaint_list_key", "created_at", "id", "school_id", "about_leadership"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(sa.String(16), default="complaint")
    category: Mapped[str] = mapped_column(sa.String(32))
    channel: Mapped[str] = mapped_column(sa.String(16), default="online")
    subject: Mapped[str] = mapped_column(sa.String(200))
    description: Mapped[str] = mapped_column(sa.Text)
    anonymous: Mapped[bool] = mapped_column(default=True)
    contact_name: Mapped[str | None] = mapped_column(sa.String(80))
    contact_phone: Mapped[str | None] = mapped_column(sa.String(40))
    contact_email: Mapped[str | None] = mapped_column(sa.String(200))
    about_leadership: Mapped[bool] = mapped_column(default=False, index=True)
    reference: Mapped[str | None] = mapped_column(sa.String(80), index=True)
    status: Mapped[str] = mapped_column(sa.String(16), default="received")
    owner_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user_account.id"))
    entered_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user_account.id"))
    handled_by_bureau: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    received_on: Mapped[date]
    ack_due: Mapped[date]
    answer_due: Mapped[date]
    acknowledged_at: Mapped[datetime | None]
    answered_at: Mapped[datetime | None]
    answered_on_time: Mapped[bool | None]
    days_to_answer: Mapped[int | None]
    closed_at: Mapped[datetime | None]
    rejection_reason: Mapped[str | None] = mapped_column(sa.Text)
    finding: Mapped[str | None] = mapped_column(sa.String(24))
    verified_facts: Mapped[str | None] = mapped_column(sa.Text)
    action_taken: Mapped[str | None] = mapped_column(sa.Text)
    correction: Mapped[str | None] = mapped_column(sa.Text)
    answer: Mapped[str | None] = mapped_column(sa.Text)
    satisfied: Mapped[bool | None]
    flagged_for_bureau: Mapped[bool] = mapped_column(default=False)
    urged_count: Mapped[int] = mapped_column(default=0)
    reward_status: Mapped[str | None] = mapped_column(sa.String(16))
    reward_amount: Mapped[str | None] = mapped_column(sa.String(40))
    reward_paid_on: Mapped[date | None]
    content_digest: Mapped[str] = mapped_column(sa.String(64), default="")

    school: Mapped[Organisation] = relationship(foreign_keys="Complaint.school_id")
    owner: Mapped[User | None] = relationship(foreign_keys=[owner_id])
    entered_by: Mapped[User | None] = relationship(foreign_keys=[entered_by_id])
    events: Mapped[list[ComplaintEvent]] = relationship(
        back_populates="complaint", order_by="ComplaintEvent.id", cascade="all, delete-orphan"
    )
    attachments: Mapped[list[Attachment]] = relationship(
        back_populates="complaint", order_by="Attachment.id", cascade="all, delete-orphan"
    )

    @property
    def named(self) -> bool:
        return not self.anonymous


class ComplaintEvent(TenantOwned, Model):
    """One entry of a case's timeline; public ones are shown to the complainant."""

    __tablename__ = "complaint_event"
    # Shown to staff and on the tracking page; on no public form.
    form_neutral = True

    id: Mapped[int] = mapped_column(primary_key=True)
    complaint_id: Mapped[int] = mapped_column(sa.ForeignKey("complaint.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    action: Mapped[str] = mapped_column(sa.String(24))
    status: Mapped[str | None] = mapped_column(sa.String(16))
    body: Mapped[str] = mapped_column(sa.Text, default="")
    public: Mapped[bool] = mapped_column(default=False)
    actor_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user_account.id"))
    due: Mapped[date | None]

    complaint: Mapped[Complaint] = relationship(back_populates="events")
    actor: Mapped[User | None] = relationship()


class Attachment(TenantOwned, Model):
    """A file sent with a case, kept in the database and shown to staff only."""

    __tablename__ = "complaint_attachment"
    # Staff only.
    form_neutral = True

    id: Mapped[int] = mapped_column(primary_key=True)
    complaint_id: Mapped[int] = mapped_column(sa.ForeignKey("complaint.id"), index=True)
    filename: Mapped[str] = mapped_column(sa.String(200))
    content_type: Mapped[str] = mapped_column(sa.String(64))
    size: Mapped[int]
    sha256: Mapped[str] = mapped_column(sa.String(64))
    content: Mapped[bytes] = mapped_column(sa.LargeBinary, deferred=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    complaint: Mapped[Complaint] = relationship(back_populates="attachments")


class AnswerTemplate(TenantOwned, Model):
    """A school's ready-made wording for answers to complainants."""

    __tablename__ = "complaint_answer_template"

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(sa.String(120))
    body: Mapped[str] = mapped_column(sa.Text)


class OverdueNotice(TenantOwned, Model):
    """That the overdue notice for one deadline of one case was enqueued (once)."""

    __tablename__ = "complaint_overdue_notice"
    # Shown nowhere.
    form_neutral = True
    __table_args__ = (sa.UniqueConstraint("complaint_id", "deadline", "due"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    complaint_id: Mapped[int] = mapped_column(sa.ForeignKey("complaint.id"), index=True)
    deadline: Mapped[str] = mapped_column(sa.String(8))
    due: Mapped[date]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ComplaintSettings(Model):
    """A bureau's time limits, in working days, for its schools' boxes."""

    __tablename__ = "complaint_settings"

    id: Mapped[int] = mapped_column(primary_key=True)
    bureau_id: Mapped[int] = mapped_column(sa.ForeignKey("organisation.id"), unique=True)
    acknowledge_days: Mapped[int] = mapped_column(default=2)
    answer_days: Mapped[int] = mapped_column(default=15)


class Holiday(Model):
    """A day off on a weekday, or a weekend day worked in exchange (调休), for a bureau."""

    __tablename__ = "complaint_holiday"
    __table_args__ = (sa.UniqueConstraint("bureau_id", "day"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    bureau_id: Mapped[int] = mapped_column(sa.ForeignKey("organisation.id"), index=True)
    day: Mapped[date]
    name: Mapped[str] = mapped_column(sa.String(80), default="")
    working: Mapped[bool] = mapped_column(default=False)


def with_leadership(statement: S) -> S:
    """Let ``statement`` see reports about a school's leadership (bureau roles only)."""
    return statement.execution_options(**{LEADERSHIP_OPTION: True})


# Reports about a school's leadership are left out of every statement that does not
# ask for them with ``with_leadership`` (bureau code only); the core applies it.
HIDE_LEADERSHIP_REPORTS = StatementCriteria(
    Complaint, Complaint.about_leadership.is_(False), lifted_by=LEADERSHIP_OPTION
)
