"""Figures agree with the lists and say their period; a case past its deadline is late."""

from __future__ import annotations

import re
from datetime import timedelta

from blueprints.complaints import metrics, services
from blueprints.complaints.queries import school_year_start
from kaimen import local_date, tenancy
from kaimen.classes import SchoolYear
from kaimen.extensions import db

from .helpers import all_cases, file_case


def _late_and_on_time(county, overdue: int = 3) -> None:
    """File ``overdue`` unanswered cases past their answer deadline and one answered on time."""
    start = school_year_start(local_date(county.a))
    for number in range(overdue):
        case, _code = file_case(county.a1, subject=f"逾期未答复 {number}", received_on=start)
        case.answer_due = case.ack_due = start - timedelta(days=1)  # a deadline already past
    answered, _code = file_case(county.a1, subject="按时答复", received_on=start)
    owner = county.users["a1.admin"]
    services.accept(answered, owner, owner)
    services.advance(answered, "verifying", owner)
    services.advance(answered, "handling", owner)
    answered.answer_due = local_date(county.a)
    services.answer(answered, "已答复。", owner)
    db.session.commit()


def test_on_time_rate_counts_unanswered_overdue_cases_as_late(app, ctx, county, client):
    _late_and_on_time(county)
    page = client.get("/s/a1/", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert "100%" not in page
    assert "25%" in page  # one on time out of four due: three are past their deadline
    with app.test_request_context(), tenancy.system_scope():
        table = metrics.bureau_table(county.a, [county.a1, county.a2])
    assert table.rows[county.a1.id][4] == "25%"
    assert table.total is not None
    assert table.total[2] == 3


def test_every_public_figure_states_its_period(app, ctx, county, client):
    today = local_date(county.a)
    start = school_year_start(today)
    file_case(county.a1, subject="上学年的意见", received_on=start - timedelta(days=30))
    file_case(county.a1, subject="本学年的意见", received_on=today)
    page = client.get("/s/a1/", headers={"Accept-Language": "en"}).get_data(as_text=True)
    year = f"{start.year}\u2013{start.year + 1}"
    assert f"This school year ({year})" in page
    assert re.search(r"Opinions received</dt><dd>1</dd>", page)  # last year's is left out
    with app.test_request_context(), tenancy.system_scope():
        table = metrics.bureau_table(county.a, [county.a1])
    assert year in str(table.title)
    assert table.total is not None
    assert table.total[0] == 1
    assert table.url is not None
    assert f"since={start.isoformat()}" in table.url


def _total(page: str) -> int:
    match = re.search(r"(\d+) opinions? ·", page)
    assert match, "the list states its total"
    return int(match.group(1))


def test_bureau_list_counts_agree_with_the_umbrella(app, ctx, county, as_user):
    _late_and_on_time(county, overdue=2)
    leadership, _code = file_case(county.a1, subject="反映校长", about_leadership=True,
                                  category="office", received_on=school_year_start(
                                      local_date(county.a)))
    leadership.answer_due = leadership.ack_due = leadership.received_on - timedelta(days=1)
    db.session.commit()
    assert len(all_cases()) == 4
    with app.test_request_context(), tenancy.system_scope():
        table = metrics.bureau_table(county.a, [county.a1, county.a2])
    assert table.total is not None
    received, overdue = table.total[0], table.total[2]
    assert (received, overdue) == (4, 3)
    client = as_user("a.supervisor")
    en = {"Accept-Language": "en"}
    assert table.url is not None
    listed = client.get(table.url, headers=en).get_data(as_text=True)
    assert _total(listed) == received
    overdue_list = client.get(f"{table.url}&overdue=1", headers=en).get_data(as_text=True)
    assert _total(overdue_list) == overdue
    ticked = client.get("/b/county-a/complaints/?leadership=1", headers=en).get_data(as_text=True)
    assert _total(ticked) == 1
    assert ticked.count("反映校长") >= 1


def test_the_period_is_the_bureaus_own_school_year_when_it_keeps_one(app, ctx, county, client):
    today = local_date(county.a)
    starts = today - timedelta(days=10)
    db.session.add(SchoolYear(bureau_id=county.a.id, name="本县学年", starts_on=starts,
                              ends_on=today + timedelta(days=300)))
    file_case(county.a1, subject="学年开始前", received_on=starts - timedelta(days=1))
    file_case(county.a1, subject="学年开始后", received_on=starts)
    page = client.get("/s/a1/", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert "This school year (本县学年)" in page
    assert re.search(r"Opinions received</dt><dd>1</dd>", page)
    with app.test_request_context(), tenancy.system_scope():
        table = metrics.bureau_table(county.a, [county.a1])
    assert table.url is not None
    assert f"since={starts.isoformat()}" in table.url
