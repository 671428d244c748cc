"""How the calendar shows times and kinds: always in the bureau's zone, in the page's language.

Registered as app-wide template filters because the school's public page and ``/track``
render this plugin's templates outside its own blueprint.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from babel.dates import format_skeleton
from flask_babel import get_locale

from .forms import KIND_LABELS, STATUS_LABELS
from .models import OpenDay
from .times import to_local


def _day(moment: datetime) -> str:
    return format_skeleton("yMMMEd", moment, locale=get_locale())


def local_time(moment: datetime | None, org: Any) -> str:
    """Format a stored UTC time as a date and time in ``org``'s zone."""
    local = to_local(moment, org)
    return "" if local is None else f"{_day(local)} {local:%H:%M}"


def event_when(event: OpenDay) -> str:
    """Format an event's start and end: one day with two times, or two dates."""
    starts, ends = to_local(event.starts_at, event.school), to_local(event.ends_at, event.school)
    assert starts is not None
    assert ends is not None
    if starts.date() == ends.date():
        return f"{_day(starts)} {starts:%H:%M}–{ends:%H:%M}"
    return f"{_day(starts)} {starts:%H:%M} – {_day(ends)} {ends:%H:%M}"


def kind_label(kind: str) -> str:
    return str(KIND_LABELS.get(kind, kind))


def status_label(status: str) -> str:
    return str(STATUS_LABELS.get(status, status))


FILTERS: dict[str, Callable[..., Any]] = {"opendays_time": local_time, "opendays_when": event_when,
           "opendays_kind": kind_label, "opendays_status": status_label}
