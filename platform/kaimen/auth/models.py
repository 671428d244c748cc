"""Users, their role grants on organisations, and login throttling."""

from __future__ import annotations

import functools
import secrets
from datetime import datetime

import sqlalchemy as sa
from flask import current_app, has_app_context
from flask_login import UserMixin
from sqlalchemy.orm import Mapped, mapped_column, relationship
from werkzeug.security import check_password_hash, generate_password_hash

from ..extensions import Model, db
from ..orgs import Organisation, Unit
from ..timeutil import utcnow
from .roles import BUREAU_ROLES, ROLES, SCHOOL_ROLES

__all__ = [
    "BUREAU_ROLES", "ROLES", "SCHOOL_ROLES", "LoginThrottle", "RoleGrant", "User", "find_user",
]


class User(UserMixin, Model):
    """A member of staff who logs in; parents and the public have no account."""

    __tablename__ = "user_account"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(sa.String(64), unique=True)
    display_name: Mapped[str] = mapped_column(sa.String(120))
    email: Mapped[str | None] = mapped_column(sa.String(200))
    phone: Mapped[str | None] = mapped_column(sa.String(40))
    password_hash: Mapped[str] = mapped_column(sa.String(255))
    active: Mapped[bool] = mapped_column(default=True)
    locale: Mapped[str | None] = mapped_column(sa.String(16))
    # Part of the id kept in the session: bumping it ends every live session.
    session_version: Mapped[int] = mapped_column(default=1)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    grants: Mapped[list[RoleGrant]] = relationship(
        back_populates="user", cascade="all, delete-orphan", lazy="selectin"
    )

    @property
    def is_active(self) -> bool:  # type: ignore[override]
        return self.active

    def get_id(self) -> str:
        return f"{self.id}.{self.session_version}"

    def set_password(self, password: str) -> None:
        """Hash and store ``password`` and end every other live session."""
        method = current_app.config["PASSWORD_METHOD"] if has_app_context() else "scrypt"
        self.password_hash = generate_password_hash(password, method=method)
        self.session_version = (self.session_version or 0) + 1

    def check_password(self, password: str) -> bool:
        return check_password_hash(self.password_hash, password)

    def roles_on(self, org: Organisation) -> set[str]:
        """Return the roles this user holds on ``org`` directly or through a bureau above it."""
        reach = {org.id} | {bureau.id for bureau in org.ancestors()}
        return {grant.role for grant in self.grants if grant.org_id in reach}

    def organisations(self) -> list[Organisation]:
        """Return the organisations this user holds a grant on, in a stable order."""
        seen: dict[int, Organisation] = {}
        for grant in self.grants:
            seen.setdefault(grant.org_id, grant.org)
        return sorted(seen.values(), key=lambda org: (org.kind != "school", org.slug))

    def __repr__(self) -> str:
        return f"<User {self.username}>"


class RoleGrant(Model):
    """One role of one user on one organisation (a unit too, for ``unit_staff``)."""

    __tablename__ = "role_grant"
    __table_args__ = (sa.UniqueConstraint("user_id", "org_id", "role"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("user_account.id"), index=True)
    org_id: Mapped[int] = mapped_column(sa.ForeignKey("organisation.id"), index=True)
    role: Mapped[str] = mapped_column(sa.String(32))
    unit_id: Mapped[int | None] = mapped_column(sa.ForeignKey("unit.id"))

    user: Mapped[User] = relationship(back_populates="grants")
    org: Mapped[Organisation] = relationship(lazy="joined")
    unit: Mapped[Unit | None] = relationship()


class LoginThrottle(Model):
    """Login attempts not yet followed by a success, per username (known or not) and address.

    The row with an empty ``address`` counts the username's attempts from every address:
    the slower limit that a spread-out attack meets.
    """

    __tablename__ = "login_throttle"
    page_neutral = True  # counted attempts show on no page

    username: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    address: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    failures: Mapped[int] = mapped_column(default=0)
    locked_until: Mapped[datetime | None]
    last_failure_at: Mapped[datetime] = mapped_column(index=True)


def find_user(username: str) -> User | None:
    """Return the user with that username, case-insensitively."""
    return db.session.scalar(sa.select(User).where(User.username == username.strip().lower()))


def authenticate(username: str, password: str) -> User | None:
    """Return the active user with that username and password, or None.

    An unknown or disabled name costs one hash check too, against a dummy hash of the
    same method and cost, so the answer's timing does not tell which names exist.
    """
    user = find_user(username)
    if user is None or not user.active:
        method = current_app.config["PASSWORD_METHOD"] if has_app_context() else "scrypt"
        check_password_hash(_dummy_hash(method), password)
        return None
    return user if user.check_password(password) else None


@functools.cache
def _dummy_hash(method: str) -> str:
    """Return a hash of a random password, made once per process with ``method``."""
    return generate_password_hash(secrets.token_urlsafe(16), method=method)
