"""The bureau's own plan in the campaign: drafted by its admins, approved by its supervisors,
public on the bureau's window, its measures on the county ledger as the bureau's own line."""

from __future__ import annotations

import html
import io
from datetime import timedelta
from types import SimpleNamespace
from typing import Any

import pytest
import sqlalchemy as sa
from flask_babel import force_locale
from openpyxl import load_workbook

from blueprints.plans import demo, ledger, metrics, services
from blueprints.plans.models import (
    APPROVED,
    BASICALLY_DONE,
    DRAFT,
    IN_PROGRESS,
    RETURNED,
    SUBMITTED,
    Campaign,
    Measure,
    Plan,
    Problem,
)
from kaimen.audit import AuditEvent
from kaimen.auth.models import RoleGrant, User
from kaimen.extensions import db
from kaimen.notify import Notification
from kaimen.timeutil import local_date

from .conftest import done_with_evidence, draft, plan_of

PDF = b"%PDF-1.4\n% evidence\n%%EOF\n"


def own_of(county: Any, campaign: Campaign) -> Plan:
    db.session.expire_all()
    plan = services.own_plan(county.a, campaign)
    assert plan is not None
    return plan


@pytest.fixture
def own(campaign: Any, county: Any) -> Plan:
    """County A's own plan in the campaign: a draft, opened with the campaign."""
    county.users["a.admin"].email = "a.admin@example.org"
    db.session.commit()
    return own_of(county, campaign)


@pytest.fixture
def own_drafted(own: Plan, county: Any) -> SimpleNamespace:
    made = draft(own, county.users["a.admin"])
    db.session.commit()
    return made


@pytest.fixture
def own_approved(own_drafted: SimpleNamespace, county: Any) -> SimpleNamespace:
    services.submit(own_drafted.plan, county.users["a.admin"])
    services.approve(own_drafted.plan, "", county.users["a.supervisor"])
    db.session.commit()
    return own_drafted


# --- the plan and its workflow ----------------------------------------------------------------


def test_opening_a_campaign_gives_the_bureau_a_draft_of_its_own(own, county, campaign):
    assert own.school_id == county.a.id
    assert own.status == DRAFT
    assert own.campaign_id == campaign.id
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Plan).where(
        Plan.school_id == county.b.id)) == 0


def test_the_bureau_admin_drafts_through_the_pages(own, county, client, as_user):
    as_user("a.admin")
    page = client.get("/b/county-a/plans/").get_data(as_text=True)
    assert "The bureau's own plan" in html.unescape(page)
    assert f"/b/county-a/plans/own/{own.id}" in page
    client.post(f"/b/county-a/plans/own/{own.id}/problems",
                data={"category": "office", "description": "Letters answered late"})
    problem = own_of(county, own.campaign).problems[0]
    deadline = own.campaign.rectify_until.isoformat()
    response = client.post(f"/b/county-a/plans/own/problems/{problem.id}/measures", data={
        "action": "Answer within three days", "target": "Every letter",
        "responsible_person": "Director", "responsible_unit": "jiaoyan股",
        "deadline": deadline})
    assert response.status_code == 302
    plan = own_of(county, own.campaign)
    assert [(m.action, m.responsible_unit) for m in plan.measures] == [
        ("Answer within three days", "jiaoyan股")]
    assert plan.measures[0].school_id == county.a.id
    events = db.session.scalars(sa.select(AuditEvent).where(
        AuditEvent.action.in_(("plan.problem_added", "plan.measure_added")))).all()
    assert len(events) == 2
    assert {(e.bureau_id, e.school_id, e.actor_name) for e in events} == {
        (county.a.id, None, "a.admin")}
    shown = client.get(f"/b/county-a/plans/own/{own.id}").get_data(as_text=True)
    assert "Answer within three days" in shown
    assert "jiaoyan股" in shown
    form = client.get(f"/b/county-a/plans/own/problems/{problem.id}/measures")
    assert '<option value="jiaoyan股">' in form.get_data(as_text=True)  # the bureau's units


def test_a_deadline_outside_the_campaign_is_refused(own_drafted, county, client, as_user):
    problem = own_drafted.problems[0]
    late = (own_drafted.plan.campaign.review_until + timedelta(days=1)).isoformat()
    as_user("a.admin")
    page = client.post(f"/b/county-a/plans/own/problems/{problem.id}/measures", data={
        "action": "Too late", "responsible_person": "X", "deadline": late})
    assert "The deadline must fall within the campaign" in page.get_data(as_text=True)
    assert len(own_of(county, own_drafted.plan.campaign).measures) == 3


def test_submission_names_measures_without_a_person_or_deadline(own_drafted, county, client,
                                                                 as_user):
    services.add_measure(own_drafted.problems[1], county.users["a.admin"],
                         action="Paint the crossing")
    db.session.commit()
    as_user("a.admin")
    page = client.post(f"/b/county-a/plans/own/{own_drafted.plan.id}/submit",
                       follow_redirects=True).get_data(as_text=True)
    assert "Measure 2.2 (Paint the crossing): no responsible person, no deadline." in page
    plan = own_of(county, own_drafted.plan.campaign)
    assert plan.status == DRAFT
    assert plan.versions == []


def test_the_supervisor_returns_and_approves_and_the_admin_cannot(own_drafted, county, client,
                                                                   as_user):
    plan_id, measure = own_drafted.plan.id, own_drafted.measures[1]
    campaign = own_drafted.plan.campaign
    as_user("a.admin")
    assert client.post(f"/b/county-a/plans/own/{plan_id}/submit").status_code == 302
    assert own_of(county, campaign).status == SUBMITTED
    # The bureau's admins draft it; they do not decide on it.
    assert client.post(f"/b/county-a/plans/own/{plan_id}/approve").status_code == 403
    assert client.get(f"/b/county-a/plans/own/{plan_id}/review").status_code == 403
    client.get("/logout")
    recipients = db.session.scalars(sa.select(Notification.recipient)).all()
    assert "a.supervisor@example.org" in recipients
    as_user("a.supervisor")
    client.post(f"/b/county-a/plans/own/{plan_id}/return",
                data={"comment": "Be precise", f"measure-{measure.id}": "Which fee?"})
    assert own_of(county, campaign).status == RETURNED
    bodies = db.session.scalars(sa.select(Notification.body).where(
        Notification.recipient == "a.admin@example.org")).all()
    assert any(f"/b/county-a/plans/own/{plan_id}" in body for body in bodies)
    client.get("/logout")
    as_user("a.admin")
    assert "Which fee?" in client.get(f"/b/county-a/plans/own/{plan_id}").get_data(as_text=True)
    client.post(f"/b/county-a/plans/own/measures/{measure.id}/edit", data={
        "action": "Refund the 200 yuan book fee", "target": "All refunded",
        "responsible_person": "Bursar", "responsible_unit": "Office",
        "deadline": measure.deadline.isoformat()})
    client.post(f"/b/county-a/plans/own/{plan_id}/submit")
    client.get("/logout")
    as_user("a.supervisor")
    review = client.get(f"/b/county-a/plans/own/{plan_id}/review").get_data(as_text=True)
    assert "Refund the 200 yuan book fee" in review
    client.post(f"/b/county-a/plans/own/{plan_id}/approve", data={"comment": "Agreed"})
    plan = own_of(county, campaign)
    assert plan.status == APPROVED
    assert [v.decision for v in plan.versions] == [RETURNED, APPROVED]
    actions = db.session.scalars(sa.select(AuditEvent.action).where(
        AuditEvent.object_type == "Plan", AuditEvent.object_id == str(plan_id),
        AuditEvent.bureau_id == county.a.id)).all()
    assert actions == ["plan.submitted", "plan.returned", "plan.submitted", "plan.approved"]


def test_who_submitted_a_version_does_not_decide_on_it(own_drafted, county, make):
    both = make.user("a.both", "bureau_admin", county.a)
    both.grants.append(RoleGrant(role="supervisor", org_id=county.a.id))
    db.session.flush()
    services.submit(own_drafted.plan, both)
    with pytest.raises(services.PlanError, match="another reviewer decides"):
        services.approve(own_drafted.plan, "", both)
    services.approve(own_drafted.plan, "", county.users["a.supervisor"])
    assert own_drafted.plan.status == APPROVED


def test_the_window_publishes_only_an_approved_plan(own_drafted, county, visitor):
    assert visitor.get("/b/county-a/plans/window").status_code == 200
    assert "Publish every fee" not in visitor.get("/b/county-a/plans/window").get_data(
        as_text=True)
    services.submit(own_drafted.plan, county.users["a.admin"])
    services.approve(own_drafted.plan, "", county.users["a.supervisor"])
    db.session.commit()
    page = visitor.get("/b/county-a/plans/window").get_data(as_text=True)
    assert "Publish every fee" in page
    assert "Not started" in page
    assert "county-a" in page  # the bureau's name heads the window
    assert "Publish every fee" not in visitor.get("/b/county-b/plans/window").get_data(
        as_text=True)


# --- the ledger -------------------------------------------------------------------------------


def item(measure_id: int) -> Measure:
    db.session.expire_all()
    return db.session.get(Measure, measure_id)


def test_progress_urging_and_sign_off_on_the_bureaus_items(own_approved, county, client,
                                                           as_user):
    measure = own_approved.measures[2]
    as_user("a.admin")
    client.post(f"/b/county-a/plans/own/items/{measure.id}/progress", data={
        "status": "done", "text": "Gate staffed every morning",
        "evidence": [(io.BytesIO(PDF), "rota.pdf")]}, content_type="multipart/form-data")
    assert item(measure.id).status == "done"
    assert [e.filename for e in item(measure.id).evidence] == ["rota.pdf"]
    evidence_id = item(measure.id).evidence[0].id
    download = client.get(f"/b/county-a/plans/own/evidence/{evidence_id}")
    assert download.status_code == 200
    assert download.data == PDF
    assert client.post(f"/b/county-a/plans/own/items/{measure.id}/signoff").status_code == 403
    client.get("/logout")
    as_user("a.supervisor")
    due = local_date(county.a) + timedelta(days=7)
    other = own_approved.measures[0]
    client.post(f"/b/county-a/plans/own/items/{other.id}/urge",
                data={"instruction": "Post the fees by Friday", "due_on": due.isoformat()})
    assert item(other.id).urged_until == due
    bodies = db.session.scalars(sa.select(Notification.body).where(
        Notification.recipient == "a.admin@example.org")).all()
    assert any("Post the fees by Friday" in body for body in bodies)
    client.post(f"/b/county-a/plans/own/items/{measure.id}/signoff", data={"note": "Checked"})
    assert item(measure.id).signed_off
    client.post(f"/b/county-a/plans/own/items/{measure.id}/reopen", data={"reason": "Gate empty"})
    assert not item(measure.id).signed_off
    actions = db.session.scalars(sa.select(AuditEvent.action).where(
        AuditEvent.object_type == "Measure", AuditEvent.object_id == str(measure.id))).all()
    assert actions[-3:] == ["plan.item_progress", "plan.item_signed_off", "plan.item_reopened"]


def test_the_county_ledger_and_summary_keep_the_bureau_apart(own_approved, approved, county,
                                                             campaign, client, as_user):
    admin = county.users["a.admin"]
    ledger.report_progress(own_approved.measures[0], BASICALLY_DONE, "", [], admin)
    ledger.report_progress(own_approved.measures[1], BASICALLY_DONE, "", [], admin)
    ledger.report_progress(own_approved.measures[2], IN_PROGRESS, "", [], admin)
    db.session.commit()
    as_user("a.supervisor")
    page = client.get("/b/county-a/plans/ledger?list=all").get_data(as_text=True)
    assert f"/b/county-a/plans/own/items/{own_approved.measures[0].id}" in page
    assert f"/s/a1/plans/items/{approved.measures[0].id}" in page
    assert "the bureau's own" in html.unescape(page)
    summary = client.get("/b/county-a/plans/summary").get_data(as_text=True)
    # The schools' three items, and the bureau's three on a line of their own.
    assert "<strong>3 items: 3 not started</strong>" in summary
    assert "3 items: 2 basically done, 1 in progress" in summary
    index = client.get("/b/county-a/plans/").get_data(as_text=True)
    assert "3 items: 2 basically done, 1 in progress" in index
    umbrella = html.unescape(client.get("/b/county-a/").get_data(as_text=True))
    assert "the bureau's own plan: 3 items: 2 basically done, 1 in progress (Approved)" in umbrella
    tally = metrics.tallies(campaign, [county.a1.id, county.a2.id], local_date(county.a))
    assert metrics.county_tally(tally).total == 3


def test_the_bureaus_ledger_file_holds_its_own_items_only(own_approved, approved, client,
                                                          as_user):
    as_user("a.admin")
    response = client.get("/b/county-a/plans/own/ledger/export")
    book = load_workbook(io.BytesIO(response.data))
    ids = [row[0].value for row in book.active.iter_rows(min_row=2)]
    assert sorted(ids) == sorted(m.id for m in own_approved.measures)
    book.active["G2"] = "In progress"
    buffer = io.BytesIO()
    book.save(buffer)
    page = client.post("/b/county-a/plans/own/ledger/import", data={
        "upload": (io.BytesIO(buffer.getvalue()), "ledger.xlsx")},
        content_type="multipart/form-data", follow_redirects=True).get_data(as_text=True)
    assert "1 items were updated." in page
    assert item(ids[0]).status == IN_PROGRESS


# --- isolation --------------------------------------------------------------------------------


def test_a_school_admin_cannot_see_or_change_the_bureaus_draft(own_drafted, county, client,
                                                               as_user):
    plan, problem = own_drafted.plan, own_drafted.problems[0]
    as_user("a1.admin")
    assert client.get(f"/b/county-a/plans/own/{plan.id}").status_code == 404
    assert client.post(f"/b/county-a/plans/own/{plan.id}/submit").status_code == 404
    assert client.get(f"/s/a1/plans/{plan.id}").status_code == 404
    assert client.post(f"/s/a1/plans/problems/{problem.id}/delete").status_code == 404
    assert client.get(f"/s/a1/plans/items/{own_drafted.measures[0].id}").status_code == 404
    assert len(own_of(county, plan.campaign).problems) == 2


def test_another_bureau_gets_404(own_approved, county, client, as_user):
    plan, measure = own_approved.plan, own_approved.measures[0]
    as_user("b.admin")
    for path in (f"/b/county-a/plans/own/{plan.id}", f"/b/county-b/plans/own/{plan.id}",
                 f"/b/county-b/plans/own/items/{measure.id}"):
        assert client.get(path).status_code == 404, path
    assert client.post(f"/b/county-b/plans/own/items/{measure.id}/progress",
                       data={"status": "done"}).status_code == 404
    assert item(measure.id).status == "not_started"


def test_the_bureaus_own_pages_do_not_reach_its_schools_plans(approved, own, county, client,
                                                              as_user):
    as_user("a.admin")
    school_plan, school_problem = approved.plan, approved.problems[0]
    assert client.get(f"/b/county-a/plans/own/{school_plan.id}").status_code == 404
    assert client.post(f"/b/county-a/plans/own/problems/{school_problem.id}/delete"
                       ).status_code == 404
    assert client.post(f"/b/county-a/plans/own/items/{approved.measures[0].id}/progress",
                       data={"status": "done"}).status_code == 404
    client.get("/logout")
    as_user("a.supervisor")
    assert client.post(f"/b/county-a/plans/own/{school_plan.id}/approve").status_code == 404
    db.session.expire_all()
    assert db.session.get(Problem, school_problem.id) is not None
    assert item(approved.measures[0].id).status == "not_started"


def test_a_visitor_sees_the_window_only(own_drafted, visitor):
    assert visitor.get(f"/b/county-a/plans/own/{own_drafted.plan.id}").status_code == 302
    assert visitor.get("/b/county-a/plans/own/ledger").status_code == 302


# --- campaigns opened before, and the demo ----------------------------------------------------


def test_a_campaign_without_the_bureaus_plan_can_start_one(county, campaign, client, as_user):
    older = Campaign(bureau_id=county.a.id, title="2025", starts_on=campaign.starts_on,
                     mobilise_until=campaign.mobilise_until, inspect_until=campaign.inspect_until,
                     rectify_until=campaign.rectify_until, review_until=campaign.review_until)
    db.session.add(older)
    db.session.commit()
    as_user("a.supervisor")
    assert client.post(f"/b/county-a/plans/campaigns/{older.id}/own").status_code == 403
    client.get("/logout")
    as_user("b.admin")
    assert client.post(f"/b/county-b/plans/campaigns/{older.id}/own").status_code == 404
    client.get("/logout")
    as_user("a.admin")
    response = client.post(f"/b/county-a/plans/campaigns/{older.id}/own")
    assert response.status_code == 302
    started = services.own_plan(county.a, older)
    assert started is not None
    assert started.status == DRAFT
    again = client.post(f"/b/county-a/plans/campaigns/{older.id}/own", follow_redirects=True)
    assert "already has a plan" in again.get_data(as_text=True)


def test_the_demo_bureau_plan_mirrors_the_report(county, app):
    users = {u.username: u for u in db.session.scalars(sa.select(User))}
    demo.load(county.a, [county.a1, county.a2], users)
    db.session.commit()
    campaign = services.current_campaign(county.a)
    plan = services.own_plan(county.a, campaign)
    assert plan.status == APPROVED
    assert len(plan.problems) == 12
    assert {p.category for p in plan.problems} == {
        "conduct", "teaching", "moral", "fees", "teachers", "ethics", "logistics",
        "facilities", "safety", "office"}
    assert all(m.responsible_person and m.responsible_unit and m.deadline
               for m in plan.measures)
    tally = metrics.tallies(campaign, [county.a.id], local_date(county.a))[county.a.id]
    with force_locale("zh_Hans"):
        assert metrics.sentence(tally) == "12 项：基本完成 8 项，正在推进 4 项"
    # The bureau's items are not counted with the schools'.
    schools = metrics.tallies(campaign, [county.a1.id, county.a2.id], local_date(county.a))
    assert metrics.county_tally(schools).total == sum(
        len(plan_of(s).measures) for s in (county.a1, county.a2)
        if plan_of(s).status == APPROVED)
    demo.load(county.a, [county.a1, county.a2], users)  # twice: nothing more
    assert len(services.own_plan(county.a, campaign).problems) == 12


def test_done_with_evidence_then_signed_off_counts_as_done(own_approved, county):
    measure = own_approved.measures[0]
    done_with_evidence(measure, county.users["a.admin"])
    ledger.sign_off(measure, "", county.users["a.supervisor"])
    campaign = own_approved.plan.campaign
    tally = metrics.tallies(campaign, [county.a.id], local_date(county.a))[county.a.id]
    assert tally.signed_off == 1
    assert tally.by_status == {"done": 1, "not_started": 2}
