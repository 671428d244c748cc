"""The umbrella view's ledger figures link to the county ledger of exactly those items."""

from __future__ import annotations

import re
from datetime import timedelta

import sqlalchemy as sa
from umbrella_page import cell

from blueprints.plans import services
from blueprints.plans.models import Plan
from kaimen.extensions import db
from kaimen.timeutil import local_date

from .conftest import draft


def _listed(client, url: str) -> int:
    page = client.get(url).get_data(as_text=True)
    rows = len(re.findall(r'<th scope="row" class="card-title"><a href="/s/', page))
    assert re.search(rf"\b{rows} items?\b", page)
    return rows


def _old_campaign_with_late_items(county) -> None:
    """An earlier campaign whose approved a1 plan has three items past their deadline: the
    umbrella counts the current campaign only, and so must the linked list."""
    today = local_date(county.a)
    old = services.open_campaign(
        county.a, "2025 evaluation", today - timedelta(days=400),
        {"mobilise": today - timedelta(days=390), "inspect": today - timedelta(days=380),
         "rectify": today - timedelta(days=370), "review": today - timedelta(days=360)},
        county.users["a.admin"])
    plan = db.session.scalar(sa.select(Plan).where(Plan.school_id == county.a1.id,
                                                   Plan.campaign_id == old.id))
    made = draft(plan, county.users["a1.admin"])
    services.submit(plan, county.users["a1.admin"])
    services.approve(plan, "", county.users["a.supervisor"])
    for measure in made.measures:
        measure.deadline = today - timedelta(days=300)
    db.session.commit()


def test_items_and_overdue_open_the_ledger_of_those_items(approved, county, client, as_user):
    _old_campaign_with_late_items(county)
    today = local_date(county.a)
    approved.measures[1].deadline = approved.measures[2].deadline = today - timedelta(days=1)
    db.session.commit()
    as_user("a.supervisor")
    page = client.get("/b/county-a/").get_data(as_text=True)
    overdue = cell(page, "a1学校", "Rectification", "Overdue")
    assert overdue.text == "2"
    assert overdue.href is not None
    assert "list=overdue" in overdue.href
    assert _listed(client, overdue.href) == 2
    items = cell(page, "a1学校", "Rectification", "Items")
    assert items.text.startswith("3 items")
    assert _listed(client, items.href) == 3
    total = cell(page, "Total", "Rectification", "Overdue")
    assert total.text == "2"
    assert _listed(client, total.href) == 2
    assert cell(page, "a2学校", "Rectification", "Overdue").text == "0"
    assert _listed(client, cell(page, "a2学校", "Rectification", "Overdue").href) == 0
    # without the campaign, the county ledger lists every campaign's late items
    assert _listed(client, "/b/county-a/plans/ledger?list=overdue") == 5


def test_a_school_or_campaign_of_another_bureau_filters_nothing_in(approved, county, client,
                                                                   as_user):
    as_user("b.admin")
    assert client.get("/b/county-a/plans/ledger").status_code == 404
    as_user("a.supervisor")
    page = client.get(f"/b/county-a/plans/ledger?list=all&school={county.b1.id}")
    assert page.status_code == 200
    assert _listed(client, f"/b/county-a/plans/ledger?list=all&school={county.b1.id}") == 3
    assert _listed(client, "/b/county-a/plans/ledger?list=all&campaign=99999999999") == 3
