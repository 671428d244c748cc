"""The umbrella view's open-day figure links to the bureau's list of exactly those events."""

from __future__ import annotations

import re
from datetime import timedelta

from conftest import login
from flask_babel import force_locale
from umbrella_page import cell, columns

from blueprints.opendays import metrics
from kaimen import tenancy
from kaimen.extensions import db
from kaimen.timeutil import utcnow


def _events(county, schedule) -> None:
    """a1: two held this period, one coming, one held a year ago; a2: one held; b1: one held."""

    def held(school, days_ago: int = 0, title: str = "Held open day") -> None:
        event = schedule(school=school, title=title)
        event.starts_at = utcnow() - timedelta(days=days_ago, hours=3)
        event.ends_at = event.starts_at + timedelta(hours=2)

    held(county.a1)
    held(county.a1)
    held(county.a1, days_ago=400, title="Open day a year ago")
    held(county.a2)
    held(county.b1, title="Another county's open day")
    schedule(school=county.a1, title="Coming open day")
    db.session.commit()


def _listed(client, url: str) -> int:
    page = client.get(url).text
    rows = len(re.findall(r'<th scope="row" class="card-title"><a href="/s/', page))
    total = int(re.search(r"(\d+) events?\b", page).group(1))
    assert rows == total  # one page: every counted event is on it
    assert "Open day a year ago" not in page
    assert "Coming open day" not in page
    return rows


def _heading(page: str) -> str:
    name = next(n for n in columns(page) if n.startswith("Open-day calendar · Events held"))
    return name.split(" · ", 1)[1]


def test_events_held_open_the_list_of_the_events_they_count(county, schedule, client):
    _events(county, schedule)
    login(client, "a.supervisor")
    page = client.get("/b/county-a/").text
    heading = _heading(page)
    for school, count in (("a1学校", 2), ("a2学校", 1), ("Total", 3)):
        figure = cell(page, school, "Open-day calendar", heading)
        assert figure.text == str(count), school
        assert figure.href is not None
        assert figure.href.startswith("/b/county-a/opendays/?held=1")
        assert _listed(client, figure.href) == count, school
    assert "school=" in cell(page, "a1学校", "Open-day calendar", heading).href
    assert "school=" not in cell(page, "Total", "Open-day calendar", heading).href
    # registrations are counted in another list (the school's); rates have no list
    registrations = next(n for n in columns(page) if n.startswith("Open-day calendar · Regi"))
    assert cell(page, "a1学校", "Open-day calendar",
                registrations.split(" · ", 1)[1]).href is None
    # without held=1 the page lists the coming events, as before
    coming = client.get("/b/county-a/opendays/").text
    assert "Coming open day" in coming
    assert "Held open day" not in coming


def test_a_bad_filter_gives_the_unfiltered_list(county, schedule, client):
    _events(county, schedule)
    login(client, "a.supervisor")
    for value in (str(county.b1.id), "abc", "99999999999", "-1", "%00"):
        response = client.get(f"/b/county-a/opendays/?held=1&school={value}")
        assert response.status_code == 200
        assert "Another county" not in response.text
        assert _listed(client, f"/b/county-a/opendays/?held=1&school={value}") == 3
    for value in ("0", "yes", "2"):
        assert "Held open day" not in client.get(f"/b/county-a/opendays/?held={value}").text


def test_no_link_for_a_viewer_who_cannot_open_the_list(county, app):
    with app.test_request_context("/b/county-a/"), force_locale("en"), tenancy.system_scope():
        table = metrics.bureau_table(county.a, [county.a1])  # nobody logged in
    assert table.links == {}
