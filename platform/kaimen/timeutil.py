"""Time helpers: everything is stored as naive UTC and shown in the bureau's zone."""

from __future__ import annotations

from datetime import UTC, datetime


def utcnow() -> datetime:
    """Return the current time as a naive UTC datetime, as the database stores it."""
    return datetime.now(UTC).replace(tzinfo=None)
