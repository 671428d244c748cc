"""Dual-link, dual-package (双联双包) assignments per school year, and liaison visits."""

from __future__ import annotations

from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from kaimen import Model, TenantOwned, Unit, User, utcnow

# What a liaison visit is for (听取意见, 检查, 指导); the labels live in services.
PURPOSES = ("hear", "inspect", "guide")


class LinkAssignment(TenantOwned, Model):
    """A bureau leader linked (联系) to a school for one school year.

    The row is the bureau's decision but it names a school, and that school's
    admins read it, so it is school-owned: the school's scope and row-level
    security apply like for any school row.
    """

    __tablename__ = "liaison_link"
    __table_args__ = (sa.UniqueConstraint("school_year_id", "school_id", "user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    school_year_id: Mapped[int] = mapped_column(sa.ForeignKey("school_year.id"), index=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("user_account.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    leader: Mapped[User] = relationship(lazy="joined")


class PackageAssignment(TenantOwned, Model):
    """A bureau department or unit packaging (包保) a school for one school year."""

    __tablename__ = "liaison_package"
    __table_args__ = (sa.UniqueConstraint("school_year_id", "school_id", "unit_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    school_year_id: Mapped[int] = mapped_column(sa.ForeignKey("school_year.id"), index=True)
    unit_id: Mapped[int] = mapped_column(sa.ForeignKey("unit.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    unit: Mapped[Unit] = relationship(lazy="joined")


class LiaisonVisit(TenantOwned, Model):
    """A leader's or unit member's visit to a school: whom they met and what they found."""

    __tablename__ = "liaison_visit"
    # Visits per school this term, per visitor, and per month: index-only for every school.
    __table_args__ = (sa.Index("ix_liaison_visit_school_visited_visitor",
                               "school_id", "visited_on", "visitor_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    visitor_id: Mapped[int] = mapped_column(sa.ForeignKey("user_account.id"), index=True)
    visited_on: Mapped[date] = mapped_column(index=True)
    purposes: Mapped[str] = mapped_column(sa.String(40))  # comma-separated PURPOSES
    met: Mapped[str] = mapped_column(sa.String(300))
    findings: Mapped[str] = mapped_column(sa.Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    visitor: Mapped[User] = relationship(lazy="joined")
    follow_ups: Mapped[list[VisitFollowUp]] = relationship(
        back_populates="visit",
        order_by="VisitFollowUp.due_on",
        cascade="all, delete-orphan",
        lazy="selectin",
    )

    @property
    def purpose_list(self) -> list[str]:
        return [p for p in self.purposes.split(",") if p]


class VisitFollowUp(TenantOwned, Model):
    """Something a visit asked the school to do, and by when."""

    __tablename__ = "liaison_follow_up"

    id: Mapped[int] = mapped_column(primary_key=True)
    liaison_visit_id: Mapped[int] = mapped_column(sa.ForeignKey("liaison_visit.id"), index=True)
    action: Mapped[str] = mapped_column(sa.String(300))
    due_on: Mapped[date]

    visit: Mapped[LiaisonVisit] = relationship(back_populates="follow_ups")
