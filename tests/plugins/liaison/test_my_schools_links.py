"""The figures on "My schools" link to the list behind them, as on the umbrella view."""

from __future__ import annotations

import re
from datetime import timedelta
from html import unescape

from conftest import login

from blueprints.liaison import services
from blueprints.opendays import services as opendays
from blueprints.opendays.models import OPEN_DAY
from blueprints.pledges import services as pledges
from kaimen.extensions import db
from kaimen.timeutil import utcnow


def _figures(page: str, school: str) -> dict[str, tuple[str, str | None]]:
    """Return ``{column: (figure, link)}`` of a school's card on "My schools"."""
    card = page.split(f'id="school-{school}"', 1)[1].split("</li>", 1)[0]
    out = {}
    for column, value in re.findall(r"<dt>([^<]*)</dt><dd>(.*?)</dd>", card):
        link = re.match(r'<a href="([^"]*)">([^<]*)</a>$', value)
        out[unescape(column)] = ((link.group(2), unescape(link.group(1))) if link
                                 else (value, None))
    return out


def _held_open_day(school, admin) -> None:
    starts = utcnow() - timedelta(hours=3)
    event = opendays.create_event(school, {
        "kind": OPEN_DAY, "title": "Open classroom day", "description": "Sit in a lesson.",
        "place": "Main hall", "grades": "Grade 1", "starts_at": starts + timedelta(days=10),
        "ends_at": starts + timedelta(days=10, hours=2), "capacity": 4, "max_attendees": 2,
        "registration_opens_at": None, "registration_closes_at": None,
        "feedback_enabled": True}, admin)
    event.starts_at, event.ends_at = starts, starts + timedelta(hours=2)


def test_each_figure_of_my_schools_opens_the_list_it_counts(client, county, years):
    leader = county.users["a.leader"]
    services.set_assignments(county.a, years.current,
                             {(county.a1.id, leader.id), (county.a2.id, leader.id)}, set())
    for day in (years.today, years.current.terms[0].starts_on):
        services.record_visit(county.a1, leader, visited_on=day, purposes=["hear"],
                              met="Principal", findings="")
    for title in ("No arbitrary fees", "Answer every letter"):
        pledges.publish_school_pledge(county.a1, "service", county.users["a1.admin"],
                                      title=title, text="The text.", answerable="Principal",
                                      school_year=pledges.current_school_year())
    _held_open_day(county.a1, county.users["a1.admin"])
    db.session.commit()
    login(client, "a.leader")
    page = client.get("/b/county-a/liaison/mine", headers={"Accept-Language": "en"}).text
    a1, a2 = _figures(page, "a1"), _figures(page, "a2")
    visits = a1["Visits this term"]
    assert visits[0] == "2"
    assert visits[1] is not None
    listed = client.get(visits[1]).text
    assert len(re.findall(r'<td class="card-title"><a href="/b/county-a/liaison/visits/\d+">',
                          listed)) == 2
    published = a1["Published pledges"]
    assert published[0] == "2"
    assert published[1] == f"/b/county-a/pledges/schools?school={county.a1.id}#published"
    assert re.search(r"\b2 published pledges\b", client.get(published[1]).text)
    held = next(value for column, value in a1.items() if column.startswith("Events held"))
    assert held[0] == "1"
    assert held[1] == f"/b/county-a/opendays/?held=1&school={county.a1.id}"
    assert re.search(r"\b1 event\b", client.get(held[1]).text)
    assert a2["Published pledges"] == ("0", f"/b/county-a/pledges/schools?school="
                                            f"{county.a2.id}#published")
    # a ratio has no list behind it
    assert a1["Ethics pledge signed / teachers"][1] is None
