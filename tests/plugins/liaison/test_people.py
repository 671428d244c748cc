"""Who answers for a school: the school's view, "my schools", visits, overdue complaints."""

from __future__ import annotations

from datetime import timedelta
from types import SimpleNamespace

import pytest
import sqlalchemy as sa
from conftest import login

from blueprints.liaison import services
from blueprints.liaison.models import LiaisonVisit
from kaimen.audit import AuditEvent
from kaimen.extensions import db
from kaimen.tenancy import all_schools


@pytest.fixture
def assigned(ctx, county, years):
    """a.leader linked to a1, the unit (with a.unit) packaging a1 and a2."""
    leader = county.users["a.leader"]
    services.set_assignments(county.a, years.current, {(county.a1.id, leader.id)},
                             {(county.a1.id, county.unit.id), (county.a2.id, county.unit.id)})
    db.session.commit()
    return county


def test_school_admins_see_their_linked_leader_and_units(client, assigned):
    login(client, "a1.admin")
    page = client.get("/s/a1/liaison/")
    assert page.status_code == 200
    assert "A.Leader" in page.text
    assert "jiaoyan股" in page.text
    login(client, "a2.admin")
    page = client.get("/s/a2/liaison/")
    assert "Not assigned yet" in page.text
    assert "jiaoyan股" in page.text


def test_teachers_do_not_see_the_liaison_page(client, assigned):
    login(client, "a1.teacher")
    assert client.get("/s/a1/liaison/").status_code == 403


def test_my_schools_lists_linked_and_packaged_schools_with_figures(client, assigned):
    login(client, "a.leader")
    page = client.get("/b/county-a/liaison/mine")
    assert page.status_code == 200
    assert 'id="school-a1"' in page.text
    assert 'id="school-a2"' not in page.text
    assert "Linked" in page.text
    assert "Coverage problems" in page.text
    login(client, "a.unit")
    page = client.get("/b/county-a/liaison/mine")
    assert 'id="school-a1"' in page.text
    assert 'id="school-a2"' in page.text
    assert "Packaged" in page.text


def test_a_supervisor_has_no_schools_of_their_own(client, assigned):
    login(client, "a.supervisor")
    assert client.get("/b/county-a/liaison/mine").status_code == 403


def visit_form(years, **values):
    return {"school": "a1", "visited_on": (years.today - timedelta(days=2)).isoformat(),
            "hear": "y", "guide": "y", "met": "Principal and two parents",
            "findings": "Fees are posted at the gate.", "action1": "Publish the answer",
            "due1": (years.today + timedelta(days=10)).isoformat()} | values


def test_a_leader_logs_a_visit_and_the_school_admin_reads_it(client, assigned, years):
    login(client, "a.leader")
    response = client.post("/b/county-a/liaison/visits/new", data=visit_form(years))
    assert response.status_code == 302
    visit = db.session.scalar(all_schools(sa.select(LiaisonVisit)))
    assert visit.school_id == assigned.a1.id
    assert visit.purpose_list == ["hear", "guide"]
    assert [f.action for f in visit.follow_ups] == ["Publish the answer"]
    event = db.session.scalar(all_schools(sa.select(AuditEvent).where(
        AuditEvent.action == "liaison.visit_logged")))
    assert event.school_id == assigned.a1.id
    assert event.data["purposes"] == ["hear", "guide"]
    login(client, "a1.admin")
    assert "A.Leader" in client.get("/s/a1/liaison/").text
    page = client.get(f"/s/a1/liaison/visits/{visit.id}")
    assert page.status_code == 200
    assert "Fees are posted at the gate." in page.text
    login(client, "a2.admin")
    assert client.get(f"/s/a2/liaison/visits/{visit.id}").status_code == 404
    # The bureau's dashboard counts it for the leader, and a2 as not yet visited by the unit.
    login(client, "a.supervisor")
    page = client.get("/b/county-a/liaison/")
    assert page.status_code == 200
    assert "Visits per leader this term" in page.text


def test_a_visit_in_the_future_or_to_a_school_not_ones_own_is_refused(client, assigned, years):
    login(client, "a.leader")
    tomorrow = (years.today + timedelta(days=1)).isoformat()
    page = client.post("/b/county-a/liaison/visits/new", data=visit_form(years,
                                                                          visited_on=tomorrow))
    assert page.status_code == 200
    assert "cannot be dated in the future" in page.text
    page = client.post("/b/county-a/liaison/visits/new", data=visit_form(years, hear="",
                                                                          guide=""))
    assert "Choose at least one purpose" in page.text
    page = client.post("/b/county-a/liaison/visits/new",
                       data=visit_form(years, due1=""))
    assert "Give the follow-up a due date" in page.text
    # a2 is not the leader's school, and b1 not even the bureau's.
    for school in ("a2", "b1"):
        response = client.post("/b/county-a/liaison/visits/new",
                               data=visit_form(years, school=school))
        assert response.status_code == 404
    assert db.session.scalars(all_schools(sa.select(LiaisonVisit))).all() == []


def test_overdue_complaints_reach_the_linked_leader_and_unit_staff(app, assigned, make):
    hook = app.extensions["kaimen"].manager.hook
    # A unit member who is also a teacher at a1 (seconded) must not hear of a leadership report.
    seconded = assigned.users["a.unit"]
    seconded.grants.append(type(seconded.grants[0])(role="teacher", org_id=assigned.a1.id))
    db.session.flush()
    answers = hook.kaimen_complaint_overdue_recipients(
        school=assigned.a1, complaint=SimpleNamespace(about_leadership=False))
    names = sorted(u.username for group in answers for u in group)
    assert names == ["a.leader", "a.unit"]
    answers = hook.kaimen_complaint_overdue_recipients(
        school=assigned.a1, complaint=SimpleNamespace(about_leadership=True))
    assert sorted(u.username for group in answers for u in group) == ["a.leader"]
    answers = hook.kaimen_complaint_overdue_recipients(
        school=assigned.b1, complaint=SimpleNamespace(about_leadership=False))
    assert [u for group in answers for u in group] == []


def test_visits_this_term_are_counted_per_leader_unit_and_school(assigned, years):
    leader, member = assigned.users["a.leader"], assigned.users["a.unit"]
    for visitor in (leader, leader, member):
        services.record_visit(assigned.a1, visitor, visited_on=years.today, purposes=["guide"],
                              met="Principal", findings="")
    db.session.commit()
    ids = [assigned.a1.id, assigned.a2.id]
    summary = services.visits_this_term(assigned.a, services.load_grid(years.current, ids), ids)
    assert summary.schools == {assigned.a1.id: 3}
    assert summary.leaders[leader.id].visits == 2
    assert summary.leaders[leader.id].not_visited == set()
    unit = summary.units[assigned.unit.id]
    assert unit.visits == 1
    assert unit.not_visited == {assigned.a2.id}


def test_the_school_admins_desk_shows_follow_ups_falling_due(client, assigned, years):
    services.record_visit(
        assigned.a1, assigned.users["a.leader"], visited_on=years.today - timedelta(days=20),
        purposes=["inspect"], met="Principal", findings="",
        follow_ups=[services.FollowUp("Post the fees at the gate", years.today - timedelta(days=2)),
                    services.FollowUp("Answer the parents", years.today + timedelta(days=5)),
                    services.FollowUp("Next year's plan", years.today + timedelta(days=90))])
    db.session.commit()
    login(client, "a1.admin")
    page = client.get("/s/a1/desk/").text
    assert "Follow-ups from liaison visits" in page
    assert "Post the fees at the gate" in page
    assert "overdue since" in page
    assert "Answer the parents" in page
    assert "Next year&#39;s plan" not in page
    assert "Next year's plan" not in page
    login(client, "a1.teacher")
    assert "Follow-ups from liaison visits" not in client.get("/s/a1/desk/").text
    login(client, "a2.admin")
    assert "Follow-ups from liaison visits" not in client.get("/s/a2/desk/").text


def test_the_linked_leader_and_unit_staff_follow_the_schools_plan(app, assigned):
    hook = app.extensions["kaimen"].manager.hook
    answers = hook.kaimen_plan_reviewers(school=assigned.a1)
    assert sorted(u.username for group in answers for u in group) == ["a.leader", "a.unit"]
    assert [u for group in hook.kaimen_plan_reviewers(school=assigned.b1) for u in group] == []
