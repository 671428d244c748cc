"""Kept umbrella views: asked of the plugins once, new at once after any write they show."""

from __future__ import annotations

import re

from conftest import login
from umbrella_page import cell, get_counting, read

from blueprints.complaints.services import Submission, file_case
from kaimen import figures
from kaimen.auth.models import RoleGrant
from kaimen.extensions import db

EN = {"Accept-Language": "en"}


def fetch(client, url="/b/county-a/", headers=EN):
    """Return the page's text and the statements it sent."""
    response, statements = get_counting(client, url, headers)
    return response.text, statements


def table(page):
    return page.split('id="umbrella"', 1)[1].split("</table>", 1)[0]


def file(school):
    file_case(school, Submission(kind="suggestion", category="other", subject="Fees",
                                 description="Please explain the fees."))
    db.session.commit()


def received(page, school):
    return cell(page, school, "Opinion box", "Received").text


def test_the_next_view_is_kept_and_asks_no_plugin(client, county):
    login(client, "a.supervisor")
    first, asked = fetch(client)
    assert any("FROM complaint" in s for s in asked)
    again, asked_again = fetch(client)
    assert table(again) == table(first)
    assert not [s for s in asked_again if "FROM complaint" in s or "FROM pledge" in s]
    assert len(asked_again) < len(asked)
    # another order of the same view sorts the kept rows: still no plugin asked
    by_slug, asked_sorted = fetch(client, "/b/county-a/?sort=0&dir=desc")
    assert not [s for s in asked_sorted if "FROM complaint" in s]
    assert list(read(by_slug))[:2] == ["a2学校", "a1学校"]


def test_a_case_filed_in_one_school_shows_on_the_next_view(client, county):
    login(client, "a.supervisor")
    page, _ = fetch(client)
    assert (received(page, "a1学校"), received(page, "a2学校")) == ("0", "0")
    file(county.a1)
    page, asked = fetch(client)
    assert any("FROM complaint" in s for s in asked)
    assert (received(page, "a1学校"), received(page, "a2学校"), received(page, "Total")) == (
        "1", "0", "1")
    # sorted by Received, most first: the kept rows follow the new figures
    columns = re.findall(r'<th scope="col"[^>]*><a href="([^"]*)">Received</a>', page)
    assert columns
    page, _ = fetch(client, columns[0].replace("&amp;", "&").replace("dir=asc", "dir=desc"))
    assert list(read(page))[0] == "a1学校"
    csv = client.get("/b/county-a/export?format=csv", headers=EN).get_data(as_text=True)
    assert "a1学校,1," in csv.replace("\r", "")


def kept_rows() -> dict[int, str]:
    """Return the HTML rows of the one view this worker keeps."""
    views = [view for _until, (_versions, view) in figures._views.values()]
    assert len(views) == 1
    return dict(views[0].kept["rows"])


def test_a_view_made_again_keeps_the_rows_nothing_changed_for(client, county):
    login(client, "a.supervisor")
    fetch(client)
    before = kept_rows()
    file(county.a1)
    fetch(client)
    after = kept_rows()
    assert after[county.a2.id] is before[county.a2.id]  # carried over, not made again
    assert after[county.a1.id] != before[county.a1.id]  # its figures changed
    assert 'data-metric="Opinion box' in after[county.a1.id]
    # A write no school owns (a role, here someone else's) may change any row: all made again
    db.session.add(RoleGrant(user_id=county.users["b.admin"].id, org_id=county.b1.id,
                             role="teacher"))
    db.session.commit()
    fetch(client)
    again = kept_rows()
    assert again[county.a2.id] is not after[county.a2.id]
    assert again[county.a2.id] == after[county.a2.id]


def test_a_role_given_to_the_viewer_shows_on_the_next_view(client, county):
    login(client, "a.unit")
    page, _ = fetch(client)
    assert re.findall(r'<th scope="row"><a href="(/s/[^"]+)">', page) == ["/s/a1/", "/s/a2/"]
    db.session.add(RoleGrant(user_id=county.users["a.unit"].id, org_id=county.a1.id,
                             role="school_admin"))
    db.session.commit()
    page, _ = fetch(client)
    assert re.findall(r'<th scope="row"><a href="(/s/[^"]+)">', page) == [
        "/s/a1/desk/", "/s/a2/"]


def test_a_kept_view_is_never_anothers_nor_in_another_language(client, county):
    login(client, "a.supervisor")
    english, _ = fetch(client)
    chinese, _ = fetch(client, headers={"Accept-Language": "zh-CN"})
    assert ">Total<" in english
    assert ">合计<" in chinese
    assert "Received" in table(english)
    assert "Received" not in table(chinese)
    assert re.findall(r'<th scope="row"><a href="(/s/[^"]+)">', english) == [
        "/s/a1/desk/", "/s/a2/desk/"]
    client.post("/logout")
    login(client, "a.unit")
    theirs, _ = fetch(client)
    assert re.findall(r'<th scope="row"><a href="(/s/[^"]+)">', theirs) == ["/s/a1/", "/s/a2/"]
