"""The open-day calendar's umbrella figures are kept per school: they follow a write in one
school, and an event that ends after they were counted joins them without counting again."""

from __future__ import annotations

from datetime import datetime, time, timedelta

import pytest
import sqlalchemy as sa
from flask_babel import force_locale

from blueprints.opendays import metrics, services, times
from kaimen import plugins, tenancy
from kaimen.extensions import db
from kaimen.orgs import Organisation
from kaimen.timeutil import local_date

from .conftest import applicant


def umbrella(app, county, statements):
    """Return the calendar's umbrella table, asked for as the view does, in a request;
    note in ``statements`` the queries that read the events."""

    def note(_conn, _cursor, statement, *_rest):
        if "FROM open_day" in statement:
            statements.append(statement)

    with app.test_request_context("/b/county-a/"), force_locale("en"), tenancy.system_scope():
        bureau = db.session.get(Organisation, county.a.id)
        schools = [db.session.get(Organisation, i) for i in (county.a1.id, county.a2.id)]
        sa.event.listen(db.engine, "before_cursor_execute", note)
        try:
            tables = plugins.bureau_metrics(bureau, schools)
        finally:
            sa.event.remove(db.engine, "before_cursor_execute", note)
        return next(t for t in tables if "/opendays" in (t.url or ""))


def held(event, now, ends_in: timedelta) -> None:
    event.starts_at, event.ends_at = now - timedelta(hours=2), now + ends_in
    db.session.commit()


def test_the_kept_figures_follow_a_write_and_the_clock(county, schedule, app, monkeypatch):
    # The figures are kept for the bureau's local day: the clock reads noon of it, so that an
    # event ending in ten minutes ends the same day whenever the suite runs.
    noon = times.to_utc(datetime.combine(local_date(county.a), time(12)), county.a)
    monkeypatch.setattr(metrics, "utcnow", lambda: noon)
    ending = schedule(capacity=10)
    seated, _ = services.register(ending, applicant("A", 2))
    services.check_in(seated, None)
    held(ending, noon, timedelta(minutes=10))  # under way: not held yet
    statements: list[str] = []
    before = umbrella(app, county, statements)
    assert statements  # counted
    assert before.rows[county.a1.id] == [0, 0, "–", "–"]
    assert before.rows[county.a2.id] == [0, 0, "–", "–"]

    statements.clear()
    later = noon + timedelta(minutes=20)
    monkeypatch.setattr(metrics, "utcnow", lambda: later)
    after_it_ended = umbrella(app, county, statements)
    assert statements == []  # nothing was written: nothing is counted again
    assert after_it_ended.rows[county.a1.id] == [1, 1, "100%", "–"]
    assert after_it_ended.total == [1, 1, "100%", "–"]

    other = schedule(school=county.a2, capacity=10)  # a write in a2 only
    registration, _ = services.register(other, applicant("B", 1))
    held(other, later, -timedelta(hours=1))
    monkeypatch.setattr(services, "utcnow", lambda: later)
    services.leave_feedback(registration, 3, "")
    db.session.commit()
    after_a_write = umbrella(app, county, statements)
    assert statements
    assert after_a_write.rows[county.a2.id] == [1, 1, "0%", "3.0"]
    assert after_a_write.rows[county.a1.id] == [1, 1, "100%", "–"]
    assert after_a_write.total == [2, 2, "67%", "3.0"]


@pytest.fixture
def clock(county, schedule, monkeypatch) -> dict[str, datetime]:
    """A clock at noon of county A's day, read by the calendar's figures and the umbrella
    view, with an event in a1 under way (one family checked in) that ends at ten past."""
    from kaimen.web import umbrella as umbrella_view

    noon = times.to_utc(datetime.combine(local_date(county.a), time(12)), county.a)
    clock = {"now": noon}
    monkeypatch.setattr(metrics, "utcnow", lambda: clock["now"])
    monkeypatch.setattr(umbrella_view, "utcnow", lambda: clock["now"])
    ending = schedule(capacity=10)
    seated, _ = services.register(ending, applicant("A", 2))
    services.check_in(seated, None)
    held(ending, noon, timedelta(minutes=10))
    return clock


def test_a_kept_umbrella_view_is_made_again_when_an_event_ends(clock, client):
    """No write, only the clock: the kept view says when its figures change and is made
    again from then (and not before)."""
    from conftest import login
    from umbrella_page import columns, read

    noon = clock["now"]
    login(client, "a.supervisor")

    def events_held() -> str:
        page = client.get("/b/county-a/", headers={"Accept-Language": "en"}).text
        index = next(i for i, name in enumerate(columns(page))
                     if name.startswith("Open-day calendar · Events held"))
        return read(page)["a1学校"].cells[index].text

    assert events_held() == "0"
    clock["now"] = noon + timedelta(minutes=5)
    assert events_held() == "0"  # still under way
    clock["now"] = noon + timedelta(minutes=11)
    assert events_held() == "1"


def test_a_citys_county_lines_are_made_again_when_an_event_ends(clock, county, client):
    """The city's view keeps its county lines too: an event that ends in a county has the
    next view count it there, with no write, even when the city's own table is filtered to
    other schools (so that its own figures never change with that clock)."""
    import re

    from conftest import login

    from kaimen.classes.models import SchoolClass, SchoolYear

    noon = clock["now"]
    today = local_date(county.a)  # a2's classes are in its county's school year
    year = SchoolYear(bureau_id=county.a.id, name="this", starts_on=today.replace(day=1),
                      ends_on=today.replace(day=28) + timedelta(days=10))
    db.session.add(year)
    db.session.flush()
    db.session.add(SchoolClass(school_id=county.a2.id, school_year_id=year.id, grade=1,
                               name="1-1"))
    db.session.commit()
    login(client, "city.supervisor")

    def county_a_events_held() -> str:
        page = client.get("/b/city/?type=primary", headers={"Accept-Language": "en"}).text
        assert '<option value="primary" selected>' in page  # the city's table: a2 alone
        section = page.split('<table id="counties">', 1)[1].split("</table>", 1)[0]
        headings = re.findall(r'<th scope="col">([^<]*)</th>', section)
        index = next(i for i, h in enumerate(headings)
                     if h.startswith("Open-day calendar · Events held"))
        line = next(row for row in section.split("<tr>") if ">county-a" in row
                    or "/b/county-a/" in row)
        cells = re.findall(r"<td>(?:<a [^>]*>)?([^<]*)", line)
        return cells[index - 1]  # the first heading is the county's name, a th

    assert county_a_events_held() == "0"
    clock["now"] = noon + timedelta(minutes=11)
    assert county_a_events_held() == "1"
