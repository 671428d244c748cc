"""School years and terms (per bureau) and classes (per school)."""

from __future__ import annotations

from datetime import date

import sqlalchemy as sa
from flask_babel import gettext as _
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..auth.models import User
from ..extensions import Model
from ..orgs import Organisation
from ..tenancy import TenantOwned

FIRST_TERM, SECOND_TERM = 1, 2
GRADES = range(1, 13)  # 一年级 … 九年级 are grades 1–9; 高一 … 高三 are 10–12
_ZH_NUMBERS = "一二三四五六七八九"


def grade_label(grade: int, locale: str | None = None) -> str:
    """Return a grade as staff say it: 七年级, 高一; "Grade 7" in English."""
    if locale == "en":
        return f"Grade {grade}"
    if 1 <= grade <= 9:
        return f"{_ZH_NUMBERS[grade - 1]}年级"
    if 10 <= grade <= 12:
        return f"高{_ZH_NUMBERS[grade - 10]}"
    return str(grade)


class SchoolYear(Model):
    """A bureau's school year (学年), e.g. 2026-2027 from September to August."""

    __tablename__ = "school_year"
    __table_args__ = (
        sa.UniqueConstraint("bureau_id", "name"),
        sa.CheckConstraint("starts_on < ends_on", name="dates"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    bureau_id: Mapped[int] = mapped_column(sa.ForeignKey("organisation.id"), index=True)
    name: Mapped[str] = mapped_column(sa.String(40))
    starts_on: Mapped[date]
    ends_on: Mapped[date]

    bureau: Mapped[Organisation] = relationship()
    terms: Mapped[list[Term]] = relationship(
        back_populates="school_year",
        order_by="Term.number",
        cascade="all, delete-orphan",
        lazy="selectin",
    )

    def covers(self, day: date) -> bool:
        return self.starts_on <= day <= self.ends_on

    def __repr__(self) -> str:
        return f"<SchoolYear {self.name}>"


class Term(Model):
    """A term (学期) inside a school year: the first from autumn, the second from spring."""

    __tablename__ = "term"
    __table_args__ = (
        sa.UniqueConstraint("school_year_id", "number"),
        sa.CheckConstraint("starts_on < ends_on", name="dates"),
        sa.CheckConstraint("number in (1, 2)", name="number"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # The bureau again, so that "the term under way" is one indexed query.
    bureau_id: Mapped[int] = mapped_column(sa.ForeignKey("organisation.id"), index=True)
    school_year_id: Mapped[int] = mapped_column(sa.ForeignKey("school_year.id"), index=True)
    number: Mapped[int]
    starts_on: Mapped[date]
    ends_on: Mapped[date]

    school_year: Mapped[SchoolYear] = relationship(back_populates="terms")

    @property
    def label(self) -> str:
        return _("First term") if self.number == FIRST_TERM else _("Second term")

    def covers(self, day: date) -> bool:
        return self.starts_on <= day <= self.ends_on

    def __repr__(self) -> str:
        return f"<Term {self.number} of {self.school_year_id}>"


class SchoolClass(TenantOwned, Model):
    """A class (班级) of a school in one school year, with its class teacher (班主任)."""

    __tablename__ = "school_class"
    __table_args__ = (
        sa.UniqueConstraint("school_id", "school_year_id", "grade", "name"),
        sa.CheckConstraint("grade between 1 and 12", name="grade"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    school_year_id: Mapped[int] = mapped_column(sa.ForeignKey("school_year.id"), index=True)
    grade: Mapped[int]
    name: Mapped[str] = mapped_column(sa.String(40))
    class_teacher_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("user_account.id"), index=True
    )

    school_year: Mapped[SchoolYear] = relationship()
    class_teacher: Mapped[User | None] = relationship(lazy="joined")
    teacher_links: Mapped[list[SchoolClassTeacher]] = relationship(
        back_populates="school_class", cascade="all, delete-orphan", lazy="selectin"
    )

    @property
    def teachers(self) -> list[User]:
        """Return the other teachers of the class, by username."""
        return sorted((link.teacher for link in self.teacher_links), key=lambda u: u.username)

    def label(self, locale: str | None = None) -> str:
        """Return the class as staff name it: 七年级1班 (Grade 7 1班 in English)."""
        separator = " " if locale == "en" else ""
        return f"{grade_label(self.grade, locale)}{separator}{self.name}"

    def __repr__(self) -> str:
        return f"<SchoolClass {self.grade} {self.name}>"


class SchoolClassTeacher(TenantOwned, Model):
    """A teacher, other than the class teacher, who teaches a class (任课教师)."""

    __tablename__ = "school_class_teacher"
    __table_args__ = (sa.UniqueConstraint("school_class_id", "user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    school_class_id: Mapped[int] = mapped_column(sa.ForeignKey("school_class.id"), index=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("user_account.id"), index=True)

    school_class: Mapped[SchoolClass] = relationship(back_populates="teacher_links")
    teacher: Mapped[User] = relationship(lazy="joined")
