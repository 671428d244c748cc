"""Workflow integrity and ids carried by forms: rewards, owners, accounts."""

from __future__ import annotations

import sqlalchemy as sa
from plugins.complaints.helpers import all_cases, file_case

from blueprints.complaints import services
from kaimen.auth.models import User, find_user
from kaimen.extensions import db


def _substantiated_fee_case(county):
    case, _code = file_case(county.a1, category="arbitrary_fees")
    owner = county.users["a1.admin"]
    services.accept(case, owner, owner)
    services.advance(case, "verifying", owner)
    services.record_findings(case, "substantiated", "属实", "退费", "通报批评", owner)
    db.session.commit()
    return case


def test_reward_is_not_paid_once_the_finding_is_revised_to_unfounded(ctx, county, as_user):
    case = _substantiated_fee_case(county)
    client = as_user("a1.admin")
    assert client.post(f"/s/a1/complaints/cases/{case.id}/reward").status_code == 302
    revised = client.post(f"/s/a1/complaints/cases/{case.id}/findings", data={
        "finding": "unsubstantiated", "verified_facts": "经核实不属实", "action_taken": "已说明"})
    assert revised.status_code == 302
    paid = client.post(f"/s/a1/complaints/cases/{case.id}/reward/paid",
                       data={"amount": "500元", "paid_on": "2024-03-01"})
    assert paid.status_code == 409
    (stored,) = all_cases()
    assert stored.finding == "unsubstantiated"
    assert stored.reward_status == "eligible"
    assert stored.reward_amount is None


def test_reward_is_refused_outside_the_three_disorders(ctx, county, as_user):
    case, _code = file_case(county.a1, category="fees")
    owner = county.users["a1.admin"]
    services.accept(case, owner, owner)
    services.advance(case, "verifying", owner)
    services.record_findings(case, "substantiated", "属实", "退费", "通报批评", owner)
    db.session.commit()
    response = as_user("a1.admin").post(f"/s/a1/complaints/cases/{case.id}/reward")
    assert response.status_code == 409
    assert all_cases()[0].reward_status is None


def test_a_case_cannot_be_put_in_the_hands_of_another_schools_staff(ctx, county, as_user):
    case, _code = file_case(county.a1)
    client = as_user("a1.admin")
    for stranger in ("b1.admin", "a2.admin", "b.supervisor"):
        response = client.post(f"/s/a1/complaints/cases/{case.id}/accept",
                               data={"owner": county.users[stranger].id})
        assert response.status_code == 400
    (stored,) = all_cases()
    assert stored.status == "received"
    assert stored.owner_id is None


def test_a_state_cannot_be_skipped(ctx, county, as_user):
    case, _code = file_case(county.a1)
    client = as_user("a1.admin")
    for step in ("advance/handling", "answer", "close"):
        client.post(f"/s/a1/complaints/cases/{case.id}/{step}", data={"answer": "已处理完毕。"})
    assert all_cases()[0].status == "received"


def test_bureau_admin_cannot_create_an_account_in_another_bureaus_school(ctx, county, as_user):
    client = as_user("a.admin")
    response = client.post("/b/county-a/admin/users", data={
        "username": "forged", "display_name": "Forged", "password": "a-long-enough-password-1",
        "role": "school_admin", "org": str(county.b1.id)})
    assert response.status_code == 200  # the form again, with an error
    db.session.expire_all()
    assert find_user("forged") is None
    school = as_user("a1.admin")
    school.post("/s/a1/admin/users", data={
        "username": "forged2", "display_name": "Forged", "password": "a-long-enough-password-1",
        "role": "school_admin", "org": str(county.a1.id)})
    assert db.session.scalar(sa.select(User).where(User.username == "forged2")) is None
