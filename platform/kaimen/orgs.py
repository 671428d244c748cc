"""Organisations: bureaus form a tree, schools hang under a county bureau."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import Mapped, joinedload, mapped_column, relationship

from . import memo
from .extensions import Model, db
from .timeutil import utcnow

BUREAU = "bureau"
SCHOOL = "school"
DEPARTMENT = "department"  # 股室
SUBORDINATE = "subordinate"  # 二级单位
UNIT_KINDS = {DEPARTMENT: _l("Department"), SUBORDINATE: _l("Subordinate unit")}


class TreeCycleError(RuntimeError):
    """The organisation tree in the database loops back on itself (a corrupted ``parent``)."""

    def __init__(self, path: list[Organisation]) -> None:
        slugs = " -> ".join(org.slug for org in path)
        super().__init__(
            f"the organisation tree has a cycle ({slugs}): fix the parent of one of these "
            "bureaus in the tenants file or the database"
        )


class Organisation(Model):
    """A bureau or a school: the unit of tenancy and of role grants."""

    __tablename__ = "organisation"
    __table_args__ = (sa.CheckConstraint("kind in ('bureau', 'school')", name="kind"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(sa.String(16))
    slug: Mapped[str] = mapped_column(sa.String(64), unique=True)
    name: Mapped[str] = mapped_column(sa.String(200))
    name_en: Mapped[str | None] = mapped_column(sa.String(200))
    parent_id: Mapped[int | None] = mapped_column(sa.ForeignKey("organisation.id"), index=True)
    address: Mapped[str | None] = mapped_column(sa.String(300))
    phone: Mapped[str | None] = mapped_column(sa.String(40))
    hotline: Mapped[str | None] = mapped_column(sa.String(40))
    email: Mapped[str | None] = mapped_column(sa.String(200))
    timezone: Mapped[str] = mapped_column(sa.String(64), default="Asia/Shanghai")
    default_locale: Mapped[str] = mapped_column(sa.String(16), default="zh_Hans")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    parent: Mapped[Organisation | None] = relationship(remote_side=[id], back_populates="children")
    children: Mapped[list[Organisation]] = relationship(
        back_populates="parent", order_by="Organisation.slug"
    )

    @property
    def is_school(self) -> bool:
        return self.kind == SCHOOL

    @property
    def is_bureau(self) -> bool:
        return self.kind == BUREAU

    def display_name(self, locale: str | None = None) -> str:
        """Return the English name in English when there is one, else the Chinese name."""
        if locale == "en" and self.name_en:
            return self.name_en
        return self.name

    def ancestors(self) -> list[Organisation]:
        """Return the chain of bureaus above this organisation, nearest first."""
        chain: list[Organisation] = []
        node, seen = self.parent, {self.id}
        while node is not None:
            if node.id in seen:
                raise TreeCycleError([self, *chain, node])
            seen.add(node.id)
            chain.append(node)
            node = node.parent
        return chain

    def bureau(self) -> Organisation:
        """Return the bureau this organisation belongs to (itself for a bureau)."""
        if self.is_bureau:
            return self
        assert self.parent is not None, "a school always hangs under a bureau"
        return self.parent

    def __repr__(self) -> str:
        return f"<Organisation {self.kind} {self.slug}>"


class Unit(Model):
    """A bureau department (股室) or subordinate unit (二级单位)."""

    __tablename__ = "unit"
    __table_args__ = (
        sa.UniqueConstraint("bureau_id", "slug"),
        sa.CheckConstraint("kind in ('department', 'subordinate')", name="kind"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    bureau_id: Mapped[int] = mapped_column(sa.ForeignKey("organisation.id"), index=True)
    slug: Mapped[str] = mapped_column(sa.String(64))
    name: Mapped[str] = mapped_column(sa.String(200))
    name_en: Mapped[str | None] = mapped_column(sa.String(200))
    kind: Mapped[str] = mapped_column(sa.String(16))

    bureau: Mapped[Organisation] = relationship()


def _bureaus_under(bureau: Organisation) -> set[int]:
    """Return the ids of ``bureau`` and of every bureau below it."""
    bureau_ids, frontier = {bureau.id}, [bureau.id]
    while frontier:
        frontier = list(
            db.session.scalars(
                sa.select(Organisation.id).where(
                    Organisation.parent_id.in_(frontier), Organisation.kind == BUREAU
                )
            )
        )
        if bureau_ids.intersection(frontier):  # in a tree, no bureau is reached twice
            raise TreeCycleError([bureau])
        bureau_ids.update(frontier)
    return bureau_ids


def bureau_ids_under(bureau: Organisation) -> set[int]:
    """Return the ids of ``bureau`` and of every bureau below it (a query per level, once
    per request)."""
    return set(memo.once(("bureaus under", bureau.id), lambda: _bureaus_under(bureau)))


def schools_under(bureau: Organisation) -> list[Organisation]:
    """Return every school below ``bureau``, through county bureaus too, by slug.

    Read once per request (a bureau's page asks for its table and its trends); any
    flush in the meantime reads them afresh (``memo.once``).
    """
    return list(memo.once(("schools under", bureau.id), lambda: list(
        db.session.scalars(
            sa.select(Organisation)
            .where(Organisation.parent_id.in_(bureau_ids_under(bureau)),
                   Organisation.kind == SCHOOL)
            .order_by(Organisation.slug)
        )
    )))


def bureaus_below(bureau: Organisation) -> list[Organisation]:
    """Return the bureaus directly below ``bureau`` (a city's counties), by slug.

    Unlike ``bureau.children`` it loads no school: a county's view asks whether it has
    counties below it, and a thousand schools answered "no" one by one.
    """
    return list(db.session.scalars(
        sa.select(Organisation)
        .where(Organisation.parent_id == bureau.id, Organisation.kind == BUREAU)
        .order_by(Organisation.slug)))


def school_ids_under(bureau: Organisation) -> set[int]:
    """Return the ids of the schools ``schools_under`` returns, without loading the schools."""
    return set(
        db.session.scalars(
            sa.select(Organisation.id).where(
                Organisation.parent_id.in_(bureau_ids_under(bureau)), Organisation.kind == SCHOOL
            )
        )
    )


def find(slug: str, kind: str) -> Organisation | None:
    """Return the organisation of that kind with that slug, or None; its parent (a school's
    bureau, whose zone, locale and settings most school pages read) comes in the same query."""
    return db.session.scalar(
        sa.select(Organisation).where(Organisation.slug == slug, Organisation.kind == kind)
        .options(joinedload(Organisation.parent))
    )
