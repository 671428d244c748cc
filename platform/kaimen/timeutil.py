"""Time helpers: everything is stored as naive UTC and shown in the bureau's zone."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

if TYPE_CHECKING:
    from .orgs import Organisation

DEFAULT_TIMEZONE = "Asia/Shanghai"


def utcnow() -> datetime:
    """Return the current time as a naive UTC datetime, as the database stores it."""
    return datetime.now(UTC).replace(tzinfo=None)


def local_today(timezone: str) -> date:
    """Return today's date in ``timezone`` (a bureau's zone): the school calendar's day."""
    return datetime.now(ZoneInfo(timezone)).date()


def zone_of(org: Organisation) -> ZoneInfo:
    """Return the time zone of ``org``'s bureau (a school keeps its bureau's)."""
    return ZoneInfo(org.bureau().timezone or DEFAULT_TIMEZONE)


def local_date(org: Organisation, moment: datetime | None = None) -> date:
    """Return ``org``'s local calendar date of a naive UTC ``moment`` (now by default)."""
    moment = moment or utcnow()
    return moment.replace(tzinfo=UTC).astimezone(zone_of(org)).date()
