"""Students and guardians of a school's roster, and the home visits logged for them.

Students and guardians live here and nowhere else in Kaimen: minors' data stays
behind this plugin's walls and never leaves the school.
"""

from __future__ import annotations

from datetime import date, datetime

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import Mapped, mapped_column, relationship

from kaimen import Model, TenantOwned, User, utcnow

# How the class teacher reached the family (DOMAIN.md: 上门, 电话, 网络, 来校).
IN_PERSON, PHONE, ONLINE, AT_SCHOOL = "in_person", "phone", "online", "at_school"
METHODS = {
    IN_PERSON: _l("Home visit in person"),
    PHONE: _l("Phone"),
    ONLINE: _l("Online chat (QQ/WeChat)"),
    AT_SCHOOL: _l("Parent at school"),
}
TOPICS = {
    "study": _l("Study"),
    "behaviour": _l("Behaviour"),
    "safety": _l("Safety"),
    "health": _l("Health"),
    "family": _l("Family difficulty"),
    "policy": _l("Policy explanation"),
    "other": _l("Other"),
}
NAME_LENGTH, NUMBER_LENGTH, PHONE_LENGTH, TEXT_LENGTH = 40, 32, 40, 4000


class Student(TenantOwned, Model):
    """A pupil on the school's roster, known by a student number unique in the school."""

    __tablename__ = "homevisit_student"
    __table_args__ = (
        sa.UniqueConstraint("school_id", "number"),
        sa.Index("ix_homevisit_student_school_id_school_class_id", "school_id", "school_class_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str] = mapped_column(sa.String(NUMBER_LENGTH))
    name: Mapped[str] = mapped_column(sa.String(NAME_LENGTH))
    # The class this school year; a new year's roster moves the student, the visits stay.
    school_class_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("school_class.id"), index=True
    )

    guardians: Mapped[list[Guardian]] = relationship(
        back_populates="student", cascade="all, delete-orphan", order_by="Guardian.position"
    )

    def __repr__(self) -> str:
        return f"<Student {self.id}>"  # never the name: reprs end up in logs


class Guardian(TenantOwned, Model):
    """A parent or guardian of a student, with the relation and a phone number."""

    __tablename__ = "homevisit_guardian"

    id: Mapped[int] = mapped_column(primary_key=True)
    student_id: Mapped[int] = mapped_column(sa.ForeignKey("homevisit_student.id"), index=True)
    position: Mapped[int] = mapped_column(default=0)
    name: Mapped[str] = mapped_column(sa.String(NAME_LENGTH))
    relation: Mapped[str] = mapped_column(sa.String(20), default="")
    phone: Mapped[str] = mapped_column(sa.String(PHONE_LENGTH), default="")

    student: Mapped[Student] = relationship(back_populates="guardians")

    def __repr__(self) -> str:
        return f"<Guardian {self.id}>"


class HomeVisit(TenantOwned, Model):
    """One contact of a teacher with a student's family: a line of the home-visit book."""

    __tablename__ = "homevisit_visit"
    __table_args__ = (
        sa.Index("ix_homevisit_visit_school_id_visited_on", "school_id", "visited_on"),
        # With school_id first, since the tenancy scope puts it on every statement: SQLite
        # (no statistics) then takes this index, not the school's, for a student's visits.
        sa.Index("ix_homevisit_visit_school_student_visited_on",
                 "school_id", "student_id", "visited_on"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    student_id: Mapped[int] = mapped_column(sa.ForeignKey("homevisit_student.id"))
    teacher_id: Mapped[int] = mapped_column(sa.ForeignKey("user_account.id"), index=True)
    # The class at the time of the visit, so last year's visits stay in last year's book.
    school_class_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("school_class.id"), index=True
    )
    visited_on: Mapped[date]
    method: Mapped[str] = mapped_column(sa.String(16))
    participants: Mapped[str] = mapped_column(sa.String(200), default="")
    # Topic keys between commas (",study,safety,"), so one LIKE finds a topic on any database.
    topics: Mapped[str] = mapped_column(sa.String(120), default="")
    summary: Mapped[str] = mapped_column(sa.Text, default="")
    parents_opinion: Mapped[str] = mapped_column(sa.Text, default="")
    follow_up: Mapped[str] = mapped_column(sa.Text, default="")
    follow_up_due: Mapped[date | None] = mapped_column(index=True)
    follow_up_done_on: Mapped[date | None]
    # The complaint box's reference for the opinion sent on, e.g. a staff link.
    opinion_case_url: Mapped[str] = mapped_column(sa.String(300), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)

    student: Mapped[Student] = relationship(lazy="joined")
    teacher: Mapped[User] = relationship(lazy="joined")
    amendments: Mapped[list[HomeVisitAmendment]] = relationship(
        back_populates="visit", order_by="HomeVisitAmendment.id", cascade="all, delete-orphan"
    )

    @property
    def topic_keys(self) -> list[str]:
        return [key for key in self.topics.split(",") if key]

    @property
    def method_label(self) -> str:
        return str(METHODS.get(self.method, self.method))

    @property
    def topic_labels(self) -> list[str]:
        return [str(TOPICS[key]) for key in self.topic_keys if key in TOPICS]

    def __repr__(self) -> str:
        return f"<HomeVisit {self.id}>"


class HomeVisitAmendment(TenantOwned, Model):
    """A change to a visit made after its 7 days: the old and new value of each field."""

    __tablename__ = "homevisit_amendment"

    id: Mapped[int] = mapped_column(primary_key=True)
    visit_id: Mapped[int] = mapped_column(sa.ForeignKey("homevisit_visit.id"), index=True)
    author_id: Mapped[int] = mapped_column(sa.ForeignKey("user_account.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    reason: Mapped[str] = mapped_column(sa.Text, default="")
    changes: Mapped[dict] = mapped_column(sa.JSON, default=dict)  # field -> [old, new]

    visit: Mapped[HomeVisit] = relationship(back_populates="amendments")
    author: Mapped[User] = relationship(lazy="joined")
