"""Time limits in working days: weekends and holidays do not count, 调休 weekends do.

The State Council's yearly calendar comes from the maintained ``chinesecalendar``
library; a bureau's own holiday table adds days or overrides the library's. Years
the library does not know yet count weekends and the bureau's table only.
"""

from __future__ import annotations

import functools
from datetime import date, timedelta

import chinese_calendar
import sqlalchemy as sa

from kaimen import Organisation, db

from .models import ComplaintSettings, Holiday

DEFAULT_ACKNOWLEDGE_DAYS, DEFAULT_ANSWER_DAYS = 2, 15


def is_working_day(day: date, days_off: set[date], days_worked: set[date]) -> bool:
    """Tell whether ``day`` is a working day: a weekday not off, or a weekend day worked."""
    if day in days_worked:
        return True
    return day.weekday() < 5 and day not in days_off


def add_working_days(start: date, days: int, days_off: set[date], days_worked: set[date]) -> date:
    """Return the date ``days`` working days after ``start`` (``start`` itself not counted)."""
    day, counted = start, 0
    while counted < days:
        day += timedelta(days=1)
        if is_working_day(day, days_off, days_worked):
            counted += 1
    return day


def settings_of(bureau: Organisation) -> ComplaintSettings:
    """Return the bureau's settings, or unsaved defaults when it has none yet."""
    settings = db.session.scalar(
        sa.select(ComplaintSettings).where(ComplaintSettings.bureau_id == bureau.id)
    )
    if settings is None:
        settings = ComplaintSettings(
            bureau_id=bureau.id,
            acknowledge_days=DEFAULT_ACKNOWLEDGE_DAYS,
            answer_days=DEFAULT_ANSWER_DAYS,
        )
    return settings


def holidays_of(bureau: Organisation) -> list[Holiday]:
    """Return the bureau's holidays and worked weekend days, latest first."""
    return list(db.session.scalars(sa.select(Holiday).where(Holiday.bureau_id == bureau.id)
                                   .order_by(Holiday.day.desc())))


@functools.lru_cache(maxsize=64)
def national_calendar(start: date, end: date) -> tuple[frozenset[date], frozenset[date]]:
    """Return the national days off on weekdays and weekend days worked, ``start`` to ``end``.

    Kept per (start, end): the library's table never changes while the process runs, and
    every form and every case of a day asks for the same span.
    """
    off, worked = set(), set()
    day = start
    while day <= end:
        try:
            working = chinese_calendar.is_workday(day)
        except NotImplementedError:  # a year the library has no data for yet
            working = day.weekday() < 5
        if day.weekday() < 5 and not working:
            off.add(day)
        elif day.weekday() >= 5 and working:
            worked.add(day)
        day += timedelta(days=1)
    return frozenset(off), frozenset(worked)


def calendar_of(bureau: Organisation, start: date, days: int = 120) -> tuple[set[date], set[date]]:
    """Return the days off and extra working days from ``start`` on: the national calendar,
    with the bureau's own table adding days or overriding them."""
    end = start + timedelta(days=days)
    national_off, national_worked = national_calendar(start + timedelta(days=1), end)
    off, worked = set(national_off), set(national_worked)
    rows = db.session.execute(
        sa.select(Holiday.day, Holiday.working).where(
            Holiday.bureau_id == bureau.id, Holiday.day > start, Holiday.day <= end)
    ).all()
    for day, working in rows:
        (worked if working else off).add(day)
        (off if working else worked).discard(day)
    return off, worked


def due_dates(bureau: Organisation, received_on: date) -> tuple[date, date]:
    """Return the acknowledgement and answer due dates of a case received that day."""
    settings = settings_of(bureau)
    off, worked = calendar_of(bureau, received_on)
    return (
        add_working_days(received_on, settings.acknowledge_days, off, worked),
        add_working_days(received_on, settings.answer_days, off, worked),
    )


def extend(bureau: Organisation, start: date, days: int) -> date:
    """Return ``days`` working days after ``start`` by the bureau's calendar."""
    off, worked = calendar_of(bureau, start, days=max(120, days * 3))
    return add_working_days(start, days, off, worked)
