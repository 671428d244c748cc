"""Time helpers: everything is stored as naive UTC and shown in the bureau's zone."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo


def utcnow() -> datetime:
    """Return the current time as a naive UTC datetime, as the database stores it."""
    return datetime.now(UTC).replace(tzinfo=None)


def local_today(timezone: str) -> date:
    """Return today's date in ``timezone`` (a bureau's zone): the school calendar's day."""
    return datetime.now(ZoneInfo(timezone)).date()
