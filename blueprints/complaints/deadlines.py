"""Time limits in working days: weekends and a bureau's holidays do not count."""

from __future__ import annotations

from datetime import date, timedelta

import sqlalchemy as sa

from kaimen.extensions import db
from kaimen.orgs import Organisation
from kaimen.timeutil import local_date  # noqa: F401 - the views call deadlines.local_date

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


def calendar_of(bureau: Organisation, start: date, days: int = 120) -> tuple[set[date], set[date]]:
    """Return the bureau's days off and extra working days from ``start`` on."""
    rows = db.session.execute(
        sa.select(Holiday.day, Holiday.working).where(
            Holiday.bureau_id == bureau.id,
            Holiday.day > start,
            Holiday.day <= start + timedelta(days=days),
        )
    ).all()
    return {d for d, working in rows if not working}, {d for d, working in rows if working}


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
