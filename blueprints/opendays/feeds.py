"""Calendar feeds (.ics) written with the ``icalendar`` library.

UIDs are stable (the event's id and the site's host), times carry the bureau's
time zone with its VTIMEZONE, each event links back to its page, and a cancelled
event stays in the feed as ``STATUS:CANCELLED`` so phones remove it themselves.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import UTC, date, timedelta
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from icalendar import Calendar, Event, Timezone

from kaimen import utcnow

from .models import OpenDay

PRODID = "-//Kaimen//Open-day calendar//ZH"


def uid_of(event: OpenDay, base_url: str) -> str:
    """Return the event's UID: the same in every feed, for as long as the event lives."""
    host = urlsplit(base_url).hostname or "kaimen"
    return f"opendays-{event.id}@{host}"


def feed(name: str, events: Iterable[OpenDay], zone: ZoneInfo, base_url: str,
         url_of: Callable[[OpenDay], str]) -> bytes:
    """Return an iCalendar file of ``events`` shown in ``zone``."""
    calendar = Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("method", "PUBLISH")
    calendar.add("x-wr-calname", name)
    calendar.add("x-wr-timezone", zone.key)
    calendar.add("refresh-interval", timedelta(hours=6), parameters={"VALUE": "DURATION"})
    calendar.add("x-published-ttl", "PT6H")
    events = list(events)
    # Only the years the events span: a VTIMEZONE with decades of old rules helps no phone.
    years = [e.starts_at.year for e in events] or [utcnow().year]
    calendar.add_component(Timezone.from_tzinfo(
        zone, first_date=date(min(years) - 1, 1, 1), last_date=date(max(years) + 2, 1, 1)))
    for event in events:
        item = Event()
        item.add("uid", uid_of(event, base_url))
        item.add("sequence", event.sequence)
        item.add("dtstamp", event.updated_at.replace(tzinfo=UTC))
        item.add("last-modified", event.updated_at.replace(tzinfo=UTC))
        item.add("dtstart", event.starts_at.replace(tzinfo=UTC).astimezone(zone))
        item.add("dtend", event.ends_at.replace(tzinfo=UTC).astimezone(zone))
        item.add("summary", event.title)
        item.add("location", event.place)
        url = url_of(event)
        item.add("url", url)
        description = event.description
        if event.is_cancelled and event.cancel_reason:
            description = f"{event.cancel_reason}\n\n{description}".strip()
        item.add("description", f"{description}\n\n{url}".strip())
        item.add("status", "CANCELLED" if event.is_cancelled else "CONFIRMED")
        calendar.add_component(item)
    return calendar.to_ical()
