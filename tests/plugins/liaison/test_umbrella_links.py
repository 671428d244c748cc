"""The umbrella view's "visits this term" opens the list of exactly those visits."""

from __future__ import annotations

import re
from datetime import timedelta

from conftest import login
from umbrella_page import cell

from blueprints.liaison import services
from kaimen.extensions import db


def _listed(client, url: str) -> int:
    page = client.get(url).text
    rows = len(re.findall(r'<td class="card-title"><a href="/b/county-a/liaison/visits/\d+">',
                          page))
    assert re.search(rf"\b{rows} visits?\b", page)
    return rows


def test_visits_this_term_open_the_visits_of_the_term(client, county, years):
    leader = county.users["a.leader"]
    services.set_assignments(county.a, years.current,
                             {(county.a1.id, leader.id), (county.a2.id, leader.id)}, set())
    term = years.current.terms[0]
    for school, day in ((county.a1, years.today), (county.a1, term.starts_on),
                        (county.a2, years.today), (county.a1, term.starts_on - timedelta(days=3))):
        services.record_visit(school, leader, visited_on=day, purposes=["hear"],
                              met="Principal", findings="")
    db.session.commit()
    login(client, "a.supervisor")
    page = client.get("/b/county-a/").text
    for school, count in (("a1学校", 2), ("a2学校", 1), ("Total", 3)):
        figure = cell(page, school, "Dual-link", "Visits this term")
        assert figure.text == str(count)
        assert figure.href is not None
        assert _listed(client, figure.href) == count, school
    assert _listed(client, "/b/county-a/liaison/visits/") == 4
    assert _listed(client, f"/b/county-a/liaison/visits/?school={county.b1.id}") == 4
    assert _listed(client, "/b/county-a/liaison/visits/?since=not-a-date") == 4


def test_a_city_links_each_school_to_its_countys_list_and_each_county_line(client, county,
                                                                             years):
    leader = county.users["a.leader"]
    services.set_assignments(county.a, years.current, {(county.a1.id, leader.id)}, set())
    services.record_visit(county.a1, leader, visited_on=years.today, purposes=["guide"],
                          met="Principal", findings="")
    db.session.commit()
    login(client, "city.supervisor")
    page = client.get("/b/city/").text
    figure = cell(page, "a1学校", "Dual-link", "Visits this term")
    assert figure.text == "1"
    assert figure.href.startswith("/b/county-a/liaison/visits/?")
    assert _listed(client, figure.href) == 1
    # the city's total spans counties: no one list holds it (a builder may answer None)
    total = cell(page, "Total", "Dual-link", "Visits this term")
    assert total.text == "1"
    assert total.href is None
    counties = page.split('id="counties"', 1)[1].split("</table>", 1)[0]
    (line,) = re.findall(r'<a href="(/b/county-a/liaison/visits/\?[^"]+)">1</a>', counties)
    assert _listed(client, line.replace("&amp;", "&")) == 1
