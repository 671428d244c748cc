"""The month view of a school's calendar, laid out on the server (no JavaScript)."""

from __future__ import annotations

import calendar
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any

import sqlalchemy as sa

from kaimen import Organisation, db

from .models import DRAFT, OpenDay
from .times import to_local, to_utc


@dataclass
class Month:
    """A month as weeks of days, each day with the events that touch it."""

    first: date
    weeks: list[list[date]]
    events: dict[date, list[OpenDay]] = field(default_factory=dict)

    @property
    def previous(self) -> date:
        return (self.first - timedelta(days=1)).replace(day=1)

    @property
    def next(self) -> date:
        return (self.first + timedelta(days=32)).replace(day=1)


def parse_month(value: str | None, today: date) -> date:
    """Return the first day of ``YYYY-MM``, or of this month when it is missing or wrong."""
    try:
        year, month = (int(part) for part in (value or "").split("-"))
        return date(year, month, 1) if 2000 <= year <= 2100 else today.replace(day=1)
    except ValueError:
        return today.replace(day=1)


def month_of(school: Organisation, first: date) -> Month:
    """Return the month starting on ``first`` with the school's events placed on their days."""
    weeks = calendar.Calendar(firstweekday=0).monthdatescalendar(first.year, first.month)
    start = to_utc(datetime.combine(weeks[0][0], time()), school)
    end = to_utc(datetime.combine(weeks[-1][-1] + timedelta(days=1), time()), school)
    month = Month(first=first, weeks=weeks)
    for event in db.session.scalars(
        sa.select(OpenDay).where(OpenDay.starts_at < end, OpenDay.ends_at > start,
                                 OpenDay.status != DRAFT)
        .order_by(OpenDay.starts_at, OpenDay.id)
    ):
        starts: Any = to_local(event.starts_at, school)
        # An event ending at midnight does not touch the next day.
        ends: Any = to_local(event.ends_at - timedelta(seconds=1), school)
        day = max(starts.date(), weeks[0][0])
        while day <= min(ends.date(), weeks[-1][-1]):
            month.events.setdefault(day, []).append(event)
            day += timedelta(days=1)
    return month
