"""The umbrella view with liaison: filters by leader and unit; the export matches the page."""

from __future__ import annotations

import io
import re

from conftest import login
from openpyxl import load_workbook
from umbrella_page import get_counting

from blueprints.liaison import services
from kaimen.extensions import db

ROW = re.compile(
    r'<tr[^>]*><th scope="row"><a href="/s/([^/]+)/(?:desk/)?">[^<]*</a>.*?</th>(.*?)</tr>', re.S)
CELL = re.compile(r"<td[^>]*>(?:<a [^>]*>)?([^<]*)(?:</a>)?</td>")  # a figure may link its list


def page_rows(html):
    """Return ``[[school slug, cell, cell, …], …]`` of the umbrella table's body."""
    body = html.split('id="umbrella"')[1].split("<tfoot>")[0]
    return [[slug, *CELL.findall(cells)] for slug, cells in ROW.findall(body)]


def test_the_supervisor_filters_by_leader_and_exports_what_is_shown(client, county, years, ctx):
    leader = county.users["a.leader"]
    services.set_assignments(county.a, years.current, {(county.a2.id, leader.id)},
                             {(county.a1.id, county.unit.id)})
    db.session.commit()
    login(client, "a.supervisor")
    page = client.get("/b/county-a/").text
    assert '<option value="a.leader">A.Leader</option>' in page
    assert '<option value="jiaoyan">jiaoyan股</option>' in page
    filtered = client.get("/b/county-a/?leader=a.leader&sort=0&dir=desc").text
    rows = page_rows(filtered)
    assert [row[0] for row in rows] == ["a2"]
    assert "A.Leader" in rows[0]
    both = page_rows(client.get("/b/county-a/?sort=0&dir=desc").text)
    assert [row[0] for row in both] == ["a2", "a1"]
    assert [row[0] for row in page_rows(client.get("/b/county-a/?unit=jiaoyan").text)] == ["a1"]
    # The export holds the same rows, in the same order, with the same figures.
    response = client.get("/b/county-a/export?format=xlsx&leader=a.leader&sort=0&dir=desc")
    sheet = load_workbook(io.BytesIO(response.data)).active
    exported = [[("" if v is None else str(v)) for v in row]
                for row in sheet.iter_rows(min_row=2, values_only=True)]
    assert exported[-1][0] == "Total"
    assert [row[1:] for row in exported[:-1]] == [row[1:] for row in rows]
    assert exported[0][0] == county.a2.name


def test_a_leader_sees_their_schools_first(client, county, years, ctx):
    leader = county.users["a.leader"]
    services.set_assignments(county.a, years.current, {(county.a2.id, leader.id)}, set())
    db.session.commit()
    login(client, "a.leader")
    page = client.get("/b/county-a/").text
    assert [row[0] for row in page_rows(page)] == ["a2", "a1"]
    assert "(you)" in page
    login(client, "a.supervisor")
    assert [row[0] for row in page_rows(client.get("/b/county-a/").text)] == ["a1", "a2"]


def test_the_filters_read_the_kept_assignments_and_follow_a_change(client, county, years, ctx):
    """The leader and unit filters are built from the figures the table keeps: a made view
    reads the assignments once, and a change of assignment shows in the next filter."""
    leader = county.users["a.leader"]
    services.set_assignments(county.a, years.current, {(county.a2.id, leader.id)}, set())
    db.session.commit()
    login(client, "a.supervisor")
    _page, statements = get_counting(client, "/b/county-a/", {})
    assert sum("FROM liaison_link" in s for s in statements) == 1
    assert sum("FROM liaison_package" in s for s in statements) == 1
    page, statements = get_counting(client, "/b/county-a/?leader=a.leader", {})  # kept figures
    rows = page_rows(page.text)
    assert [row[0] for row in rows] == ["a2"]
    assert not any("FROM liaison_link" in s for s in statements)
    services.set_assignments(county.a, years.current, {(county.a1.id, leader.id)},
                             {(county.a1.id, county.unit.id)})
    db.session.commit()
    assert [row[0] for row in page_rows(client.get("/b/county-a/?leader=a.leader").text)] == [
        "a1"]
    assert [row[0] for row in page_rows(client.get("/b/county-a/?unit=jiaoyan").text)] == ["a1"]


def test_visits_per_month_are_drawn_as_svg_with_a_table(client, county, years, make):
    leader = county.users["a.leader"]
    other = make.user("a.leader2", "leader", county.a)
    services.set_assignments(county.a, years.current,
                             {(county.a1.id, leader.id), (county.a2.id, other.id)}, set())
    services.record_visit(county.a1, leader, visited_on=years.today, purposes=["hear"],
                          met="Principal", findings="")
    db.session.commit()
    login(client, "a.supervisor")
    page = client.get("/b/county-a/").text
    (figure,) = re.findall(r'<figure class="trend">(.*?)</figure>', page, re.S)
    assert "Liaison visits per month" in figure
    assert figure.count("<rect ") == 12
    this_month = years.today.strftime("%Y-%m")
    assert f"<title>{this_month}: 1</title>" in figure
    assert f'<tr><th scope="row">{this_month}</th><td>1</td></tr>' in figure
    # The chart follows the filter: a2 alone has had no visit.
    filtered = client.get("/b/county-a/?leader=a.leader2").text
    assert f'<tr><th scope="row">{this_month}</th><td>0</td></tr>' in filtered
