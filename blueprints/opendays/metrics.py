"""The open-day calendar's figures: per event for staff, per school for the bureau.

The bureau's figures cover this term (this school year, from 1 September, where the
bureau keeps no terms), one query per figure for all schools, and each column names
its period.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time
from typing import Any

import sqlalchemy as sa
from flask import url_for
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from kaimen import (
    MetricTable,
    Organisation,
    Panel,
    SchoolRef,
    all_schools,
    among,
    db,
    end_of_local_day,
    local_date,
    render_panel,
    user_can,
    utcnow,
)
from kaimen.classes import current_term

from . import services, times
from .models import CONFIRMED, SCHEDULED, WAITLISTED, OpenDay, OpenDayFeedback, Registration


@dataclass
class EventFigures:
    """How many registered, waited and came for one event."""

    registrations: int = 0
    seats: int = 0
    waiting: int = 0
    present: int = 0  # people checked in

    @property
    def attendance(self) -> float | None:
        return self.present / self.seats if self.seats else None


def event_figures(event_ids: list[int]) -> dict[int, EventFigures]:
    """Return the figures of each event in one query."""
    if not event_ids:
        return {}
    confirmed = Registration.status == CONFIRMED
    rows = db.session.execute(
        sa.select(
            Registration.open_day_id,
            sa.func.sum(sa.case((confirmed, 1), else_=0)),
            sa.func.sum(sa.case((confirmed, Registration.attendees), else_=0)),
            sa.func.sum(sa.case((Registration.status == WAITLISTED, Registration.attendees),
                                else_=0)),
            sa.func.sum(sa.case((sa.and_(confirmed, Registration.checked_in_at.is_not(None)),
                                 Registration.attendees), else_=0)),
        ).where(among(Registration.open_day_id, event_ids)).group_by(Registration.open_day_id)
    )
    figures = {i: EventFigures() for i in event_ids}
    for event_id, registrations, seats, waiting, present in rows:
        figures[event_id] = EventFigures(int(registrations or 0), int(seats or 0),
                                         int(waiting or 0), int(present or 0))
    return figures


def period_start(bureau: Organisation, today: date | None = None) -> tuple[str, datetime]:
    """Return the period the figures cover, named, and its first moment in UTC.

    This term when the bureau keeps its terms (``kaimen.classes``, "2026-2027 第一学期");
    otherwise this school year, from 1 September ("2026-2027 学年").
    """
    today = today or local_date(bureau)
    term = current_term(bureau, on=today)
    if term is not None:
        name, first = str(_l("%(year)s %(term)s", year=term.school_year.name,
                             term=term.label)), term.starts_on
    else:
        year = today.year if today.month >= 9 else today.year - 1
        name, first = str(_l("school year %(year)s", year=f"{year}-{year + 1}")), date(year, 9, 1)
    start = times.to_utc(datetime.combine(first, time()), bureau)
    assert start is not None
    return name, start


# A school's raw figures, in this order: events held, registrations, seats, people present,
# the sum of the satisfaction answers and how many there are.
FIGURES = 6
EVENTS, REGISTRATIONS, SEATS, PRESENT, SATISFACTION, ANSWERS = range(FIGURES)


def held_in(ids: list[int], since: datetime, now: datetime) -> Any:
    """Return the condition of the events of ``ids`` held between ``since`` and ``now``."""
    return sa.and_(among(OpenDay.school_id, ids), OpenDay.status == SCHEDULED,
                   OpenDay.starts_at >= since, OpenDay.ends_at <= now)


def school_figures(bureau: Organisation, schools: list[Organisation]) -> dict[int, Any]:
    """Return each school's raw figures this period: ``{"ended": figures}`` of the events
    that had ended when counted, and ``{"ending": [[end (ISO), *figures], ...]}``, one per
    event that ends by tomorrow (bureau-local), which the table adds once it has ended.
    One query for the period, one per figure."""
    return _count(bureau, schools, period_start(bureau)[1])


def _count(bureau: Organisation, schools: list[Organisation], since: datetime) -> dict[int, Any]:
    ids, now = [s.id for s in schools], utcnow()
    tomorrow = end_of_local_day(bureau, local_date(bureau))  # the figures' day ends then
    held = sa.and_(among(OpenDay.school_id, ids), OpenDay.status == SCHEDULED,
                   OpenDay.starts_at >= since, OpenDay.ends_at <= max(tomorrow, now))
    # An event that has ended is summed with the others (no id); one still to end keeps its own.
    event = sa.case((OpenDay.ends_at <= now, None), else_=OpenDay.id).label("event")
    ended = {i: [0] * FIGURES for i in ids}
    ending: dict[int, dict[int, list[Any]]] = {i: {} for i in ids}
    ends: dict[int, str] = {}

    def add(statement: Any, *columns: int) -> None:
        for school_id, event_id, ends_at, *values in db.session.execute(all_schools(
                statement.group_by(OpenDay.school_id, event))):
            into = ended[school_id] if event_id is None else ending[school_id].setdefault(
                event_id, [0] * FIGURES)
            for column, value in zip(columns, values, strict=True):
                into[column] = int(value or 0)
            if event_id is not None:
                ends[event_id] = ends_at.isoformat()

    per_event = (OpenDay.school_id, event, sa.func.max(OpenDay.ends_at))
    add(sa.select(*per_event, sa.func.count()).where(held), EVENTS)
    joined = (sa.select(*per_event).join(Registration, Registration.open_day_id == OpenDay.id)
              .where(held, Registration.status == CONFIRMED))
    add(joined.add_columns(sa.func.count()), REGISTRATIONS)
    add(joined.add_columns(sa.func.sum(Registration.attendees)), SEATS)
    add(joined.add_columns(sa.func.sum(sa.case(
        (Registration.checked_in_at.is_not(None), Registration.attendees), else_=0))), PRESENT)
    add(sa.select(*per_event, sa.func.sum(OpenDayFeedback.satisfaction),
                  sa.func.count(OpenDayFeedback.id))
        .join(Registration, Registration.open_day_id == OpenDay.id)
        .join(OpenDayFeedback, OpenDayFeedback.registration_id == Registration.id)
        .where(held), SATISFACTION, ANSWERS)
    return {i: {"ended": ended[i],
                "ending": [[ends[e], *figures] for e, figures in sorted(ending[i].items())]}
            for i in ids}


def bureau_table(bureau: Organisation, schools: list[Organisation],
                 figures: dict[int, Any] | None = None) -> MetricTable:
    """Return events held, registrations, attendance and satisfaction per school, from
    ``figures`` (``school_figures``; counted now when None, or for a school without them)
    and the time now."""
    period, since = period_start(bureau)
    figures = dict(figures or {})
    missing = [s for s in schools if figures.get(s.id) is None]
    if missing:
        figures.update(_count(bureau, missing, since))
    table = MetricTable(
        title=_l("Open-day calendar"), order=40, url=link(bureau), links=held_links(bureau),
        columns=[_l("Events held, %(period)s", period=period),
                 _l("Registrations, %(period)s", period=period),
                 _l("Attendance, %(period)s", period=period),
                 _l("Satisfaction (1–5), %(period)s", period=period)],
    )
    now = utcnow()
    total = [0] * FIGURES
    satisfaction: dict[int, tuple[float, int]] = {}
    for school in schools:
        kept = figures[school.id]
        held = list(kept["ended"])
        for ends_at, *more in kept["ending"]:
            moment = datetime.fromisoformat(ends_at)
            if moment <= now:
                held = [a + b for a, b in zip(held, more, strict=True)]
            elif table.until is None or moment < table.until:
                table.until = moment  # the table changes when it ends
        total = [a + b for a, b in zip(total, held, strict=True)]
        if held[ANSWERS]:
            satisfaction[school.id] = (held[SATISFACTION] / held[ANSWERS], held[ANSWERS])
        table.rows[school.id] = [
            held[EVENTS], held[REGISTRATIONS], _rate(held[PRESENT], held[SEATS]),
            _mean(satisfaction.get(school.id, (None, 0))[0]),
        ]
    table.total = [total[EVENTS], total[REGISTRATIONS], _rate(total[PRESENT], total[SEATS]),
                   _mean(_weighted(satisfaction))]
    return table


def _weighted(means: dict[int, tuple[Any, int]]) -> float | None:
    answers = sum(count for _mean_value, count in means.values())
    if not answers:
        return None
    return sum(float(mean) * count for mean, count in means.values()) / answers


def _rate(part: Any, whole: Any) -> str:
    if not whole:
        return "–"
    return f"{100 * int(part or 0) / int(whole):.0f}%"


def _mean(value: Any) -> str:
    return "–" if value is None else f"{float(value):.1f}"


def panel(school: Organisation) -> Panel:
    """Return the school page's panel with the next events."""
    return render_panel(_l("Open days"), "opendays/panel.html", order=20, school=school,
                        events=services.coming(limit=3))


def link(bureau: Organisation) -> str:
    return url_for("opendays_bureau.index", bureau=bureau.slug)


def held_links(bureau: Organisation) -> dict[int, Any]:
    """Return the umbrella's link from Events held to the bureau's list of the events held
    this period, for one school or all of them (none for a viewer who cannot open it)."""
    if not user_can(current_user, "bureau.view", bureau):
        return {}
    base = url_for("opendays_bureau.index", bureau=bureau.slug, held=1)

    def build(school: SchoolRef | None) -> str:
        return f"{base}&school={school.id}" if school is not None else base

    return {0: build}
