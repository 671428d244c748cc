"""Drafting, submitting, returning and approving a plan: the rules and the pages."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from blueprints.plans import services
from blueprints.plans.models import APPROVED, RETURNED, SUBMITTED
from kaimen import hookimpl
from kaimen.audit import AuditEvent
from kaimen.extensions import db
from kaimen.notify import Notification

from .conftest import plan_of


def test_opening_a_campaign_gives_every_school_a_draft(campaign, county):
    assert plan_of(county.a1).status == "draft"
    assert plan_of(county.a2).campaign_id == campaign.id
    assert plan_of(county.b1) is None


def test_stages_must_follow_each_other(campaign, county):
    today = campaign.starts_on
    with pytest.raises(services.PlanError, match="follow each other"):
        services.open_campaign(county.a, "Backwards", today,
                               {"mobilise": today + timedelta(days=9),
                                "inspect": today + timedelta(days=3),
                                "rectify": today + timedelta(days=20),
                                "review": today + timedelta(days=30)}, None)


def test_a_deadline_outside_the_campaign_is_refused(drafted, county):
    problem = drafted.problems[0]
    late = drafted.plan.campaign.review_until + timedelta(days=1)
    with pytest.raises(services.PlanError, match="within the campaign"):
        services.add_measure(problem, county.users["a1.admin"], action="Too late",
                             responsible_person="X", deadline=late)


def test_submission_names_measures_without_a_person_or_deadline(drafted, county, client,
                                                                 as_user):
    admin = county.users["a1.admin"]
    services.add_measure(drafted.problems[1], admin, action="Paint the crossing")
    db.session.commit()
    as_user("a1.admin")
    page = client.post(f"/s/a1/plans/{drafted.plan.id}/submit", follow_redirects=True)
    text = page.get_data(as_text=True)
    assert "Measure 2.2 (Paint the crossing): no responsible person, no deadline." in text
    db.session.expire_all()
    assert plan_of(county.a1).status == "draft"
    assert plan_of(county.a1).versions == []


def test_return_with_a_comment_on_one_measure_then_resubmit_shows_the_diff(
        drafted, county, client, as_user):
    plan, measure = drafted.plan, drafted.measures[1]
    as_user("a1.admin")
    assert client.post(f"/s/a1/plans/{plan.id}/submit").status_code == 302
    client.get("/logout")
    as_user("a.supervisor")
    refused = client.post(f"/s/a1/plans/{plan.id}/return", data={"comment": ""})
    assert "Say why the plan is returned." in refused.get_data(as_text=True)
    client.post(f"/s/a1/plans/{plan.id}/return",
                data={"comment": "Be precise", f"measure-{measure.id}": "Which fee?"})
    db.session.expire_all()
    assert plan_of(county.a1).status == RETURNED
    client.get("/logout")
    as_user("a1.admin")
    page = client.get(f"/s/a1/plans/{plan.id}").get_data(as_text=True)
    assert "Be precise" in page
    assert "Which fee?" in page
    client.post(f"/s/a1/plans/measures/{measure.id}/edit", data={
        "action": "Refund the 200 yuan book fee", "target": "All refunded",
        "responsible_person": "Bursar", "responsible_unit": "Office",
        "deadline": measure.deadline.isoformat()})
    client.post(f"/s/a1/plans/{plan.id}/submit")
    db.session.expire_all()
    assert plan_of(county.a1).status == SUBMITTED
    assert [v.number for v in plan_of(county.a1).versions] == [1, 2]
    client.get("/logout")
    as_user("a.supervisor")
    review = client.get(f"/s/a1/plans/{plan.id}/review").get_data(as_text=True)
    assert "Changes since version 1" in review
    assert "<del>Refund the book fee</del>" in review
    assert "<ins>Refund the 200 yuan book fee</ins>" in review
    client.post(f"/s/a1/plans/{plan.id}/approve", data={"comment": "Agreed"})
    db.session.expire_all()
    assert plan_of(county.a1).status == APPROVED
    actions = db.session.scalars(sa.select(AuditEvent.action)).all()
    assert {"plan.submitted", "plan.returned", "plan.approved"} <= set(actions)


def test_the_diff_names_added_removed_and_changed_items():
    before = [{"id": 1, "category": "fees", "description": "A", "cases": [], "other_opinions": "",
               "measures": [{"id": 10, "action": "x", "target": "", "responsible_person": "P",
                             "responsible_unit": "", "deadline": "2026-12-01"},
                            {"id": 11, "action": "gone", "target": "", "responsible_person": "P",
                             "responsible_unit": "", "deadline": None}]}]
    after = [{**before[0], "measures": [{**before[0]["measures"][0], "deadline": "2026-12-20"}]},
             {"id": 2, "category": "safety", "description": "B", "cases": [],
              "other_opinions": "", "measures": []}]
    found = [(c.kind, c.what, c.label, c.fields) for c in services.changes(before, after)]
    assert found == [("changed", "measure", "x", [("deadline", "2026-12-01", "2026-12-20")]),
                     ("removed", "measure", "gone", []), ("added", "problem", "B", [])]


def test_supervisors_and_followers_are_told_a_plan_awaits_review(drafted, county, app):
    services.submit(drafted.plan, county.users["a1.admin"])
    db.session.flush()
    recipients = db.session.scalars(sa.select(Notification.recipient)).all()
    assert "a.supervisor@example.org" in recipients
    assert "a1.admin@example.org" not in recipients


def test_a_school_cannot_approve_its_own_plan(drafted, county, client, as_user):
    services.submit(drafted.plan, county.users["a1.admin"])
    db.session.commit()
    as_user("a1.admin")
    assert client.post(f"/s/a1/plans/{drafted.plan.id}/approve").status_code == 403
    assert client.get(f"/s/a1/plans/{drafted.plan.id}/review").status_code == 403
    db.session.expire_all()
    assert plan_of(county.a1).status == SUBMITTED


def test_another_schools_plan_is_not_found(drafted, county, client, as_user):
    as_user("a2.admin")
    assert client.get(f"/s/a2/plans/{drafted.plan.id}").status_code == 404
    assert client.post(f"/s/a2/plans/{drafted.plan.id}/submit").status_code == 404
    client.get("/logout")
    as_user("b.supervisor")
    assert client.post(f"/s/a1/plans/{drafted.plan.id}/approve").status_code in (403, 404)


def test_an_approved_plan_cannot_be_changed(approved, county):
    with pytest.raises(services.PlanError, match="draft or a returned"):
        services.add_problem(approved.plan, county.users["a1.admin"], category="fees",
                             description="Late addition")


class LinkedPeople:
    """A stand-in for the dual-link plugin: names the school's linked leader."""

    NAME = "linked-people-test"

    def __init__(self, person):
        self.person = person

    @hookimpl
    def kaimen_plan_reviewers(self, school):
        return [self.person]


def test_people_named_by_the_reviewers_hook_are_told(drafted, county, app):
    manager = app.extensions["kaimen"].manager
    plugin = LinkedPeople(county.users["a.leader"])
    manager.register(plugin, name=LinkedPeople.NAME)
    try:
        services.submit(drafted.plan, county.users["a1.admin"])
        db.session.flush()
    finally:
        manager.unregister(plugin)
    recipients = db.session.scalars(sa.select(Notification.recipient)).all()
    assert "a.leader@example.org" in recipients
