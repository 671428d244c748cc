"""Time helpers: everything is stored as naive UTC and shown in the bureau's zone."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

if TYPE_CHECKING:
    from .orgs import Organisation

DEFAULT_TIMEZONE = "Asia/Shanghai"


def utcnow() -> datetime:
    """Return the current time as a naive UTC datetime, as the database stores it."""
    return datetime.now(UTC).replace(tzinfo=None)


def coarse_now() -> datetime:
    """Return ``utcnow()`` to the minute: the time stored for what the public sends.

    Anonymous filings, their timeline entries, receipts and audit events are
    stored without seconds, so that a stored time cannot be matched with a
    visitor's arrival in a network or server log.
    """
    return utcnow().replace(second=0, microsecond=0)


def zone_of(org: Organisation) -> ZoneInfo:
    """Return the time zone of ``org``'s bureau (a school keeps its bureau's)."""
    return ZoneInfo(org.bureau().timezone or DEFAULT_TIMEZONE)


def local_date(org: Organisation, moment: datetime | None = None) -> date:
    """Return ``org``'s local calendar date of a naive UTC ``moment`` (now by default)."""
    moment = moment or utcnow()
    return moment.replace(tzinfo=UTC).astimezone(zone_of(org)).date()


def end_of_local_day(org: Organisation, day: date) -> datetime:
    """Return the naive UTC moment ``day`` ends in ``org``'s zone (the next midnight there)."""
    midnight = datetime.combine(day + timedelta(days=1), time(), tzinfo=zone_of(org))
    return midnight.astimezone(UTC).replace(tzinfo=None)
