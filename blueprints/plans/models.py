"""Campaigns (a bureau's), and each school's plan: problems, measures, versions, the ledger."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import Mapped, mapped_column, relationship

from kaimen import Model, Organisation, TenantOwned, User, utcnow

# The report's four stages, in order; a campaign keeps the last day of each.
STAGES = ("mobilise", "inspect", "rectify", "review")
STAGE_LABELS = {
    "mobilise": _l("Mobilise"),
    "inspect": _l("Self-inspect and solicit opinions"),
    "rectify": _l("Rectify"),
    "review": _l("Review and acceptance"),
}

# The report's ten areas.
CATEGORIES = {
    "conduct": _l("School-running conduct"),
    "teaching": _l("Teaching management"),
    "moral": _l("Moral education"),
    "fees": _l("Fees"),
    "teachers": _l("Teacher management"),
    "ethics": _l("Teacher ethics"),
    "logistics": _l("Logistics"),
    "facilities": _l("School buildings and facilities"),
    "safety": _l("Safety"),
    "office": _l("Office conduct"),
}

DRAFT, SUBMITTED, RETURNED, APPROVED = "draft", "submitted", "returned", "approved"
PLAN_STATUSES = {
    DRAFT: _l("Draft"),
    SUBMITTED: _l("Awaiting review"),
    RETURNED: _l("Returned"),
    APPROVED: _l("Approved"),
}

NOT_STARTED, IN_PROGRESS, BASICALLY_DONE, DONE = (
    "not_started", "in_progress", "basically_done", "done")
ITEM_STATUSES = {
    NOT_STARTED: _l("Not started"),
    IN_PROGRESS: _l("In progress"),
    BASICALLY_DONE: _l("Basically done"),
    DONE: _l("Done"),
}

# Who drafts an owner's plan and reports its progress: a school's admins for a school's plan,
# the bureau's admins for the bureau's own (a plan is owned through ``school_id``, a bureau's
# own plan by the bureau's organisation).
MANAGE_PERMISSIONS = {"school": "plans.manage", "bureau": "plans.own"}

TEXT_MAX, SHORT_MAX, NOTE_MAX = 2000, 120, 2000
# What a measure's version snapshot keeps, and what the reviewer's diff compares.
MEASURE_FIELDS = ("action", "target", "responsible_person", "responsible_unit", "deadline")
PROBLEM_FIELDS = ("category", "description", "cases", "other_opinions")
FIELD_LABELS = {
    "category": _l("Area"),
    "description": _l("Problem"),
    "cases": _l("Opinions from the opinion box"),
    "other_opinions": _l("Other opinions"),
    "action": _l("What will be done"),
    "target": _l("Target"),
    "responsible_person": _l("Responsible person"),
    "responsible_unit": _l("Responsible unit or department"),
    "deadline": _l("Deadline"),
}


class Campaign(Model):
    """A bureau's year of evaluation, with the last day of each of its four stages.

    Not tenant-owned: it belongs to a bureau, and every query filters on ``bureau_id``.
    """

    __tablename__ = "plan_campaign"

    id: Mapped[int] = mapped_column(primary_key=True)
    bureau_id: Mapped[int] = mapped_column(sa.ForeignKey("organisation.id"), index=True)
    title: Mapped[str] = mapped_column(sa.String(200))
    starts_on: Mapped[date]
    mobilise_until: Mapped[date]
    inspect_until: Mapped[date]
    rectify_until: Mapped[date]
    review_until: Mapped[date]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    bureau: Mapped[Organisation] = relationship()

    def stage_on(self, day: date) -> str | None:
        """Return the stage ``day`` falls in, None before the start or after the review."""
        if day < self.starts_on:
            return None
        for stage in STAGES:
            if day <= getattr(self, f"{stage}_until"):
                return stage
        return None

    def stages(self) -> list[tuple[str, Any, date]]:
        """Return ``(stage, label, last day)`` in order."""
        return [(s, STAGE_LABELS[s], getattr(self, f"{s}_until")) for s in STAGES]


class Plan(TenantOwned, Model):
    """A school's rectification plan (整改方案) in one campaign, or the bureau's own.

    The owner is ``school``: a school, or for the bureau's own plan the bureau itself,
    whose rows are in scope on the bureau's pages (see ``kaimen.web.context``).
    """

    __tablename__ = "plan"
    __table_args__ = (sa.UniqueConstraint("school_id", "campaign_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(sa.ForeignKey("plan_campaign.id"), index=True)
    status: Mapped[str] = mapped_column(sa.String(16), default=DRAFT, index=True)
    submitted_at: Mapped[datetime | None]
    approved_at: Mapped[datetime | None]
    changed_at: Mapped[datetime] = mapped_column(default=utcnow)

    school: Mapped[Organisation] = relationship(foreign_keys="Plan.school_id")
    campaign: Mapped[Campaign] = relationship()
    problems: Mapped[list[Problem]] = relationship(
        back_populates="plan", order_by="Problem.id", cascade="all, delete-orphan")
    versions: Mapped[list[PlanVersion]] = relationship(
        back_populates="plan", order_by="PlanVersion.number", cascade="all, delete-orphan")

    @property
    def editable(self) -> bool:
        return self.status in (DRAFT, RETURNED)

    @property
    def measures(self) -> list[Measure]:
        return [m for p in self.problems for m in p.measures]

    @property
    def last_version(self) -> PlanVersion | None:
        return self.versions[-1] if self.versions else None


class Problem(TenantOwned, Model):
    """A problem the plan answers: its area, what is wrong, the opinions that raised it."""

    __tablename__ = "plan_problem"

    id: Mapped[int] = mapped_column(primary_key=True)
    plan_id: Mapped[int] = mapped_column(sa.ForeignKey("plan.id"), index=True)
    category: Mapped[str] = mapped_column(sa.String(16))
    description: Mapped[str] = mapped_column(sa.Text)
    # Ids of complaint-box cases, reached through the box's hooks, never a foreign key.
    cases: Mapped[list[int]] = mapped_column(sa.JSON, default=list)
    other_opinions: Mapped[str] = mapped_column(sa.Text, default="")

    plan: Mapped[Plan] = relationship(back_populates="problems")
    measures: Mapped[list[Measure]] = relationship(
        back_populates="problem", order_by="Measure.id", cascade="all, delete-orphan")


class Measure(TenantOwned, Model):
    """A measure of a problem; once its plan is approved, an item of the ledger (整改台账)."""

    __tablename__ = "plan_measure"

    id: Mapped[int] = mapped_column(primary_key=True)
    problem_id: Mapped[int] = mapped_column(sa.ForeignKey("plan_problem.id"), index=True)
    plan_id: Mapped[int] = mapped_column(sa.ForeignKey("plan.id"), index=True)
    action: Mapped[str] = mapped_column(sa.Text)
    target: Mapped[str] = mapped_column(sa.Text, default="")
    responsible_person: Mapped[str] = mapped_column(sa.String(SHORT_MAX), default="")
    responsible_unit: Mapped[str] = mapped_column(sa.String(SHORT_MAX), default="")
    deadline: Mapped[date | None]
    status: Mapped[str] = mapped_column(sa.String(16), default=NOT_STARTED, index=True)
    status_changed_at: Mapped[datetime | None] = mapped_column(index=True)
    signed_off_at: Mapped[datetime | None]
    signed_off_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user_account.id"))
    urged_until: Mapped[date | None]

    problem: Mapped[Problem] = relationship(back_populates="measures")
    plan: Mapped[Plan] = relationship(foreign_keys=[plan_id], viewonly=True)
    signed_off_by: Mapped[User | None] = relationship()
    notes: Mapped[list[MeasureNote]] = relationship(
        order_by="MeasureNote.id.desc()", cascade="all, delete-orphan")
    evidence: Mapped[list[Evidence]] = relationship(
        order_by="Evidence.id", cascade="all, delete-orphan")

    @property
    def signed_off(self) -> bool:
        return self.signed_off_at is not None

    def overdue_on(self, day: date) -> bool:
        """Return whether the deadline has passed on ``day`` without the item being done."""
        return (self.deadline is not None and self.deadline < day
                and self.status not in (BASICALLY_DONE, DONE))


class PlanVersion(TenantOwned, Model):
    """What was submitted (a snapshot of problems and measures) and what the reviewer said."""

    __tablename__ = "plan_version"
    __table_args__ = (sa.UniqueConstraint("plan_id", "number"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    plan_id: Mapped[int] = mapped_column(sa.ForeignKey("plan.id"), index=True)
    number: Mapped[int]
    snapshot: Mapped[list[dict[str, Any]]] = mapped_column(sa.JSON)
    submitted_at: Mapped[datetime] = mapped_column(default=utcnow)
    submitted_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user_account.id"))
    decision: Mapped[str | None] = mapped_column(sa.String(16))  # returned or approved
    decided_at: Mapped[datetime | None]
    comment: Mapped[str] = mapped_column(sa.Text, default="")
    # {measure id (as text): the reviewer's comment on that measure}
    measure_comments: Mapped[dict[str, str]] = mapped_column(sa.JSON, default=dict)

    plan: Mapped[Plan] = relationship(back_populates="versions")


class MeasureNote(TenantOwned, Model):
    """A dated entry in a ledger item's record: progress, urging, sign-off or reopening."""

    __tablename__ = "plan_measure_note"

    id: Mapped[int] = mapped_column(primary_key=True)
    measure_id: Mapped[int] = mapped_column(sa.ForeignKey("plan_measure.id"), index=True)
    kind: Mapped[str] = mapped_column(sa.String(16))  # progress, urge, signoff, reopen
    text: Mapped[str] = mapped_column(sa.Text, default="")
    status: Mapped[str | None] = mapped_column(sa.String(16))
    due_on: Mapped[date | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    author_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user_account.id"))

    author: Mapped[User | None] = relationship()


class Evidence(TenantOwned, Model):
    """A file proving a ledger item's progress, kept in the database and shown to staff."""

    __tablename__ = "plan_evidence"

    id: Mapped[int] = mapped_column(primary_key=True)
    measure_id: Mapped[int] = mapped_column(sa.ForeignKey("plan_measure.id"), index=True)
    filename: Mapped[str] = mapped_column(sa.String(200))
    content_type: Mapped[str] = mapped_column(sa.String(64))
    size: Mapped[int]
    sha256: Mapped[str] = mapped_column(sa.String(64))
    content: Mapped[bytes] = mapped_column(sa.LargeBinary, deferred=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
