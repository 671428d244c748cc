"""Times of the calendar: stored as naive UTC, typed and shown in the bureau's zone."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from kaimen import Organisation


def zone(school: Organisation) -> ZoneInfo:
    """Return the time zone a school's events are shown in: its bureau's."""
    return ZoneInfo(school.bureau().timezone or "Asia/Shanghai")


def to_utc(local: datetime | None, school: Organisation) -> datetime | None:
    """Turn a naive local time typed in the school's zone into naive UTC."""
    if local is None:
        return None
    return local.replace(tzinfo=zone(school)).astimezone(UTC).replace(tzinfo=None)


def to_local(moment: datetime | None, school: Organisation) -> datetime | None:
    """Turn a stored naive UTC time into an aware time in the school's zone."""
    if moment is None:
        return None
    return moment.replace(tzinfo=UTC).astimezone(zone(school))
