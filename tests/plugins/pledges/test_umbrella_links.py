"""The umbrella view's pledge figures link to the bureau's list of exactly those pledges."""

from __future__ import annotations

import re

from flask_babel import force_locale
from umbrella_page import cell

from blueprints.pledges import metrics, services
from kaimen import tenancy
from kaimen.extensions import db

from .conftest import publish


def _pledges(board) -> None:
    """Besides the board (a1: two, a2: one): a withdrawn a1 pledge (not counted) and an a2
    pledge of an earlier school year (still standing: counted)."""
    county = board.county
    gone = publish(county.a1, county.users["a1.admin"], "Withdrawn pledge")
    services.set_status(gone, "withdrawn", "Merged into another pledge.",
                        county.users["a1.admin"])
    publish(county.a2, county.users["a2.admin"], "Old pledge", school_year="2019-2020")
    publish(county.b1, county.users["b1.admin"], "Another county's pledge")
    db.session.commit()


def _listed(client, url: str) -> int:
    page = client.get(url).text
    published = page.split('id="published"', 1)[1]
    rows = len(re.findall(r'<th scope="row" class="card-title"><a href="/s/', published))
    total = int(re.search(r"(\d+) published pledges?\b", published).group(1))
    assert rows == total  # one page: every counted pledge is on it
    return rows


def test_published_pledges_open_the_list_of_the_pledges_they_count(board, client, as_user):
    _pledges(board)
    as_user("a.supervisor")
    page = client.get("/b/county-a/").text
    for school, count in (("a1学校", 2), ("a2学校", 2), ("Total", 4)):
        figure = cell(page, school, "Pledge board", "Published pledges")
        assert figure.text == str(count), school
        assert figure.href is not None
        assert figure.href.startswith("/b/county-a/pledges/schools")
        assert _listed(client, figure.href) == count, school
    assert "school=" in cell(page, "a1学校", "Pledge board", "Published pledges").href
    assert "school=" not in cell(page, "Total", "Pledge board", "Published pledges").href
    listed = client.get(cell(page, "a1学校", "Pledge board", "Published pledges").href).text
    assert "No arbitrary fees" in listed
    assert "Withdrawn pledge" not in listed
    assert "A2 pledge" not in listed
    # a ratio of signatures has no list behind it
    assert cell(page, "a1学校", "Pledge board", "Ethics pledge signed / teachers").href is None


def test_the_board_figure_opens_the_schools_boards(board, client, as_user):
    as_user("a.supervisor")
    page = client.get("/b/county-a/").text
    heading = next(h for h in re.findall(r">(Board for [^<]+)<", page))
    total = cell(page, "Total", "Pledge board", heading)
    assert total.text == "2 / 2"
    assert "2 of 2 schools have published" in client.get(total.href).text
    one = cell(page, "a1学校", "Pledge board", heading)
    assert one.text == "Yes"
    narrowed = client.get(one.href).text
    assert "a1学校 has published its pledge board" in narrowed
    assert "Every school" not in narrowed  # one school is not every school
    assert "of 1 schools" not in narrowed


def test_a_school_of_another_bureau_filters_nothing_in(board, client, as_user):
    _pledges(board)
    as_user("a.supervisor")
    county = board.county
    for value in (str(county.b1.id), "abc", "99999999999", "-1"):
        response = client.get(f"/b/county-a/pledges/schools?school={value}")
        assert response.status_code == 200
        assert "Another county's pledge" not in response.text
        assert _listed(client, f"/b/county-a/pledges/schools?school={value}") == 4
    as_user("b.admin")
    assert client.get(f"/b/county-a/pledges/schools?school={county.a1.id}").status_code in (
        403, 404)


def test_no_links_for_a_viewer_who_cannot_open_the_list(board, app):
    county = board.county
    with app.test_request_context("/b/county-a/"), force_locale("en"), tenancy.system_scope():
        table = metrics.bureau_table(county.a, [county.a1, county.a2])  # nobody logged in
    assert table.links == {}
    assert table.rows[county.a1.id][0] == 2
