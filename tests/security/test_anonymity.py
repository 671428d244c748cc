"""An anonymous opinion names no one, even when it is sent from a logged-in browser."""

from __future__ import annotations

import sqlalchemy as sa
from plugins.complaints.helpers import all_cases, file_case, form_token, opinion, receipt_code

from blueprints.complaints import services
from kaimen.audit import AuditEvent
from kaimen.extensions import db


def complaint_events() -> list[AuditEvent]:
    db.session.expire_all()
    return list(db.session.scalars(
        sa.select(AuditEvent).where(AuditEvent.action.startswith("complaint."))
        .order_by(AuditEvent.id)))


def test_logged_in_teacher_files_anonymously_and_the_audit_log_names_no_one(ctx, county,
                                                                             as_user):
    client = as_user("a1.teacher")
    response = client.post("/s/a1/complaints/", data=opinion(
        token=form_token(client), about_leadership="y"))
    assert response.status_code == 200
    (case,) = all_cases()
    assert case.anonymous
    assert case.entered_by_id is None
    (filed,) = complaint_events()
    assert filed.action == "complaint.filed"
    assert filed.actor_id is None
    assert filed.actor_name == "public"
    assert "a1.teacher" not in repr(filed.data)


def test_follow_up_by_receipt_from_a_logged_in_browser_stays_anonymous(ctx, county, as_user):
    case, code = file_case(county.a1)
    client = as_user("a1.admin")
    added = client.post("/s/a1/complaints/track", data={
        "code": code, "action": "information", "text": "补充：收费时间是9月1日。"})
    assert added.status_code == 200
    owner = county.users["a.supervisor"]
    services.accept(case, owner, owner)
    services.advance(case, "verifying", owner)
    services.advance(case, "handling", owner)
    services.answer(case, "已退费。", owner)
    db.session.commit()
    judged = client.post("/track", data={"code": code})
    assert judged.status_code == 200
    verdict = client.post("/s/a1/complaints/track", data={
        "code": code, "action": "feedback", "verdict": "no"})
    assert verdict.status_code == 200
    by_public = [e for e in complaint_events()
                 if e.action in ("complaint.information", "complaint.dissatisfied")]
    assert len(by_public) == 2
    assert all(e.actor_id is None and e.actor_name == "public" for e in by_public)


def test_staff_steps_still_name_the_staff_member(ctx, county, as_user):
    client = as_user("a1.teacher")
    response = client.post("/s/a1/complaints/enter", data={
        **opinion(), "channel": "hotline", "received_on": "2024-03-01"})
    assert response.status_code == 200
    receipt_code(response)
    (entered,) = complaint_events()
    assert entered.actor_name == "a1.teacher"
