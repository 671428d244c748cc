"""The calendar feeds, parsed back: stable UIDs, VTIMEZONE, local times, links, cancellations."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from icalendar import Calendar

from blueprints.opendays import services
from kaimen.extensions import db

SHANGHAI = ZoneInfo("Asia/Shanghai")


def parse(response):
    assert response.status_code == 200
    assert response.mimetype == "text/calendar"
    return Calendar.from_ical(response.data)


def events_of(calendar):
    return {str(e["summary"]): e for e in calendar.walk("VEVENT")}


def test_the_school_feed_parses_with_local_times_and_links_back(client, schedule):
    event = schedule(title="Open classroom day",
                     starts_at=datetime(2030, 3, 4, 0, 30), ends_at=datetime(2030, 3, 4, 3, 30))
    calendar = parse(client.get("/s/a1/opendays/calendar.ics"))
    assert [tz["tzid"] for tz in calendar.walk("VTIMEZONE")] == ["Asia/Shanghai"]
    item = events_of(calendar)["Open classroom day"]
    start, end = item.decoded("dtstart"), item.decoded("dtend")
    # Stored as 00:30 UTC: 08:30 in the bureau's zone, written with its TZID.
    assert start == datetime(2030, 3, 4, 8, 30, tzinfo=SHANGHAI)
    assert (start.hour, end.hour, end.minute) == (8, 11, 30)
    assert item["dtstart"].params["TZID"] == "Asia/Shanghai"
    assert str(item["url"]) == f"https://kaimen.example.org/s/a1/opendays/{event.id}"
    assert str(item["uid"]) == f"opendays-{event.id}@kaimen.example.org"
    assert str(item["status"]) == "CONFIRMED"
    assert str(item["location"]) == "Main hall"


def test_a_cancelled_event_stays_in_the_feed_with_the_same_uid(client, county, schedule):
    event = schedule(title="Parent school")
    before = events_of(parse(client.get("/s/a1/opendays/calendar.ics")))["Parent school"]
    services.cancel_event(event, "The speaker is ill.", county.users["a1.admin"])
    db.session.commit()
    after = events_of(parse(client.get("/s/a1/opendays/calendar.ics")))["Parent school"]
    assert str(after["uid"]) == str(before["uid"])
    assert str(after["status"]) == "CANCELLED"
    assert int(after["sequence"]) == int(before["sequence"]) + 1
    assert "The speaker is ill." in str(after["description"])


def test_the_bureau_feed_covers_all_its_schools_and_no_other(client, county, schedule):
    schedule(title="A1 day")
    schedule(school=county.a2, title="A2 day")
    schedule(school=county.b1, title="B1 day")
    calendar = parse(client.get("/b/county-a/opendays/calendar.ics"))
    assert set(events_of(calendar)) == {"A1 day", "A2 day"}
    assert set(events_of(parse(client.get("/s/a2/opendays/calendar.ics")))) == {"A2 day"}
    assert set(events_of(parse(client.get("/b/county-b/opendays/calendar.ics")))) == {"B1 day"}


def test_the_calendar_page_offers_a_webcal_subscription_on_the_public_address(client, county):
    html = client.get("/s/a1/opendays/").get_data(as_text=True)
    assert 'href="webcal://kaimen.example.org/s/a1/opendays/calendar.ics"' in html
    assert 'href="https://kaimen.example.org/s/a1/opendays/calendar.ics"' in html
