"""The umbrella view's opinion-box figures link to the bureau's list of exactly those cases."""

from __future__ import annotations

import re
from datetime import timedelta

from conftest import login
from umbrella_page import cell

from blueprints.complaints import services
from blueprints.complaints.queries import school_year_start
from kaimen import local_date
from kaimen.extensions import db

from .helpers import file_case

EN = {"Accept-Language": "en"}


def _cases(county) -> None:
    """a1: two overdue, one open in time, one closed, one of last year; a2: one overdue."""
    today = local_date(county.a)
    start = school_year_start(today)
    for number in range(2):
        case, _code = file_case(county.a1, subject=f"逾期 {number}", received_on=start)
        case.answer_due = case.ack_due = today - timedelta(days=1)
    file_case(county.a1, subject="按时", received_on=today)
    done, _code = file_case(county.a1, subject="已办结", received_on=today)
    owner = county.users["a1.admin"]
    services.accept(done, owner, owner)
    services.advance(done, "verifying", owner)
    services.advance(done, "handling", owner)
    services.answer(done, "已答复。", owner)
    old, _code = file_case(county.a1, subject="上学年", received_on=start - timedelta(days=20))
    old.answer_due = old.ack_due = start - timedelta(days=10)
    late, _code = file_case(county.a2, subject="逾期", received_on=today)
    late.answer_due = late.ack_due = today - timedelta(days=1)
    db.session.commit()


def _listed(client, url: str) -> int:
    page = client.get(url, headers=EN).text
    rows = len(re.findall(r'<td class="card-title"><a href="/s/', page))
    total = int(re.search(r"(\d+) opinions?\b", page).group(1))
    assert rows == total  # one page: every counted case is on it
    return rows


def test_each_figure_opens_the_list_of_the_cases_it_counts(client, county, ctx):
    _cases(county)
    login(client, "a.supervisor")
    page = client.get("/b/county-a/", headers=EN).text
    expected = {("a1学校", "Received"): 4, ("a1学校", "Open"): 3, ("a1学校", "Overdue"): 2,
                ("a2学校", "Overdue"): 1, ("Total", "Overdue"): 3, ("Total", "Received"): 5}
    for (school, heading), count in expected.items():
        figure = cell(page, school, "Opinion box", heading)
        assert figure.text == str(count), (school, heading)
        assert figure.href is not None
        assert figure.href.startswith("/b/county-a/complaints/?")
        assert _listed(client, figure.href) == count, (school, heading)
    assert "school=" in cell(page, "a1学校", "Opinion box", "Overdue").href
    assert "school=" not in cell(page, "Total", "Opinion box", "Overdue").href
    # a rate has no list behind it
    assert cell(page, "a1学校", "Opinion box", "Satisfaction").href is None


def test_no_link_for_a_viewer_who_cannot_open_the_list(client, county, ctx):
    _cases(county)
    login(client, "a.unit")  # sees the umbrella view, not the bureau's case list
    page = client.get("/b/county-a/", headers=EN).text
    figure = cell(page, "a1学校", "Opinion box", "Overdue")
    assert figure.text == "2"
    assert figure.href is None
    assert client.get("/b/county-a/complaints/?overdue=1").status_code in (403, 404)


def test_the_export_keeps_plain_numbers(client, county, ctx):
    _cases(county)
    login(client, "a.supervisor")
    text = client.get("/b/county-a/export?format=csv", headers=EN).get_data(as_text=True)
    assert "href" not in text
    assert "a1学校,4,3,2," in text
