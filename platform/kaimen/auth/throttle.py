"""Login throttling by username, known or unknown, so both get the same answer."""

from __future__ import annotations

from datetime import timedelta

from flask import current_app

from ..extensions import db
from ..timeutil import utcnow
from .models import LoginThrottle


def is_locked(username: str) -> bool:
    """Tell whether logins for ``username`` are refused for now."""
    row = db.session.get(LoginThrottle, username)
    return bool(row and row.locked_until and row.locked_until > utcnow())


def record_failure(username: str) -> None:
    """Count a failed login and lock the name after too many; commits at once."""
    row = db.session.get(LoginThrottle, username)
    if row is None:
        row = LoginThrottle(username=username, failures=0)
        db.session.add(row)
    now = utcnow()
    if row.locked_until and row.locked_until <= now:
        row.failures, row.locked_until = 0, None
    row.failures += 1
    row.last_failure_at = now
    if row.failures >= current_app.config["LOGIN_MAX_FAILURES"]:
        row.locked_until = now + timedelta(minutes=current_app.config["LOGIN_LOCK_MINUTES"])
    db.session.commit()


def clear(username: str) -> None:
    row = db.session.get(LoginThrottle, username)
    if row is not None:
        db.session.delete(row)
