"""Pledges of schools (tenant-owned) and of the bureau and its units, with their history."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from kaimen import Model, Organisation, TenantOwned, Unit, User, utcnow

SERVICE = "service"  # a school's service pledge to parents
ETHICS = "ethics"  # a teacher ethics pledge (师德承诺), signed by the school's teachers
KINDS = (SERVICE, ETHICS)

ACTIVE, FULFILLED, WITHDRAWN = "active", "fulfilled", "withdrawn"
STATUSES = (ACTIVE, FULFILLED, WITHDRAWN)

TITLE_MAX, TEXT_MAX, ANSWERABLE_MAX, REASON_MAX, UPDATE_MAX = 200, 4000, 200, 1000, 2000
# What a pledge promises: the fields its form fills, its edits change and its versions keep.
CONTENT_FIELDS = ("title", "text", "answerable", "school_year")


class PledgeContent:
    """The columns every pledge has: what is promised, who answers for it, and its status."""

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(sa.String(TITLE_MAX))
    text: Mapped[str] = mapped_column(sa.Text)
    answerable: Mapped[str] = mapped_column(sa.String(ANSWERABLE_MAX))
    school_year: Mapped[str] = mapped_column(sa.String(9), index=True)
    status: Mapped[str] = mapped_column(sa.String(16), default=ACTIVE)
    status_reason: Mapped[str | None] = mapped_column(sa.Text)
    status_changed_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Set by the first edit after publication; None means the text never changed.
    edited_at: Mapped[datetime | None]

    @property
    def is_active(self) -> bool:
        return self.status == ACTIVE

    @property
    def reference(self) -> str:
        """Return the opaque reference other plugins receive, e.g. ``"pledge:12"``."""
        raise NotImplementedError


class VersionContent:
    """A snapshot of a pledge's content, appended on publication and on every edit."""

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[int]
    title: Mapped[str] = mapped_column(sa.String(TITLE_MAX))
    text: Mapped[str] = mapped_column(sa.Text)
    answerable: Mapped[str] = mapped_column(sa.String(ANSWERABLE_MAX))
    school_year: Mapped[str] = mapped_column(sa.String(9))
    edited_at: Mapped[datetime] = mapped_column(default=utcnow)
    editor_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user_account.id"))
    editor_name: Mapped[str] = mapped_column(sa.String(120))


class UpdateContent:
    """A dated public progress note on a pledge."""

    id: Mapped[int] = mapped_column(primary_key=True)
    text: Mapped[str] = mapped_column(sa.Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    author_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user_account.id"))


class Pledge(PledgeContent, TenantOwned, Model):
    """A school's pledge: a service pledge or a teacher ethics pledge."""

    __tablename__ = "pledge"
    # A year's ethics pledges of every school, for the umbrella view's signature count.
    __table_args__ = (sa.Index("ix_pledge_school_kind_year", "school_id", "kind", "school_year"),)

    kind: Mapped[str] = mapped_column(sa.String(16), default=SERVICE)

    school: Mapped[Organisation] = relationship(foreign_keys="Pledge.school_id")
    versions: Mapped[list[PledgeVersion]] = relationship(
        back_populates="pledge", order_by="PledgeVersion.number", cascade="all, delete-orphan"
    )
    updates: Mapped[list[PledgeUpdate]] = relationship(
        order_by="PledgeUpdate.created_at.desc()", cascade="all, delete-orphan"
    )
    signatures: Mapped[list[PledgeSignature]] = relationship(
        order_by="PledgeSignature.signed_at", cascade="all, delete-orphan"
    )

    @property
    def reference(self) -> str:
        return f"pledge:{self.id}"


class PledgeVersion(VersionContent, TenantOwned, Model):
    """One version of a school pledge's content."""

    __tablename__ = "pledge_version"
    __table_args__ = (sa.UniqueConstraint("pledge_id", "number"),)

    pledge_id: Mapped[int] = mapped_column(sa.ForeignKey("pledge.id"), index=True)
    pledge: Mapped[Pledge] = relationship(back_populates="versions")


class PledgeUpdate(UpdateContent, TenantOwned, Model):
    """A progress note on a school pledge."""

    __tablename__ = "pledge_update"

    pledge_id: Mapped[int] = mapped_column(sa.ForeignKey("pledge.id"), index=True)


class PledgeSignature(TenantOwned, Model):
    """A teacher's own signature under an ethics pledge."""

    __tablename__ = "pledge_signature"
    __table_args__ = (sa.UniqueConstraint("pledge_id", "user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    pledge_id: Mapped[int] = mapped_column(sa.ForeignKey("pledge.id"), index=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("user_account.id"), index=True)
    signed_at: Mapped[datetime] = mapped_column(default=utcnow)

    user: Mapped[User] = relationship(lazy="joined")


class BureauPledge(PledgeContent, Model):
    """A pledge of a bureau, or of one of its departments or units when ``unit_id`` is set.

    Not tenant-owned: it belongs to a bureau, never to a school, and every query
    of it filters on ``bureau_id`` explicitly.
    """

    __tablename__ = "bureau_pledge"

    bureau_id: Mapped[int] = mapped_column(sa.ForeignKey("organisation.id"), index=True)
    unit_id: Mapped[int | None] = mapped_column(sa.ForeignKey("unit.id"))

    bureau: Mapped[Organisation] = relationship()
    unit: Mapped[Unit | None] = relationship()
    versions: Mapped[list[BureauPledgeVersion]] = relationship(
        back_populates="pledge", order_by="BureauPledgeVersion.number", cascade="all, delete-orphan"
    )
    updates: Mapped[list[BureauPledgeUpdate]] = relationship(
        order_by="BureauPledgeUpdate.created_at.desc()", cascade="all, delete-orphan"
    )

    @property
    def reference(self) -> str:
        return f"bureau-pledge:{self.id}"


class BureauPledgeVersion(VersionContent, Model):
    """One version of a bureau pledge's content."""

    __tablename__ = "bureau_pledge_version"
    __table_args__ = (sa.UniqueConstraint("pledge_id", "number"),)

    pledge_id: Mapped[int] = mapped_column(sa.ForeignKey("bureau_pledge.id"), index=True)
    pledge: Mapped[BureauPledge] = relationship(back_populates="versions")


class BureauPledgeUpdate(UpdateContent, Model):
    """A progress note on a bureau pledge."""

    __tablename__ = "bureau_pledge_update"

    pledge_id: Mapped[int] = mapped_column(sa.ForeignKey("bureau_pledge.id"), index=True)
