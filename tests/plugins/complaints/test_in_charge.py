"""The person in charge of a case: opens it, works on it in their role, sees it at their desk."""

from __future__ import annotations

from datetime import timedelta

from blueprints.complaints import services
from kaimen import local_date
from kaimen.extensions import db

from .helpers import all_cases, file_case


def _assigned_to_teacher(county, **fields):
    case, _code = file_case(county.a1, **fields)
    services.accept(case, county.users["a1.teacher"], county.users["a1.admin"])
    db.session.commit()
    return case


def test_teacher_in_charge_opens_and_works_on_her_case(ctx, county, as_user, make):
    case = _assigned_to_teacher(county, subject="周末有偿补课")
    other, _code = file_case(county.a1, subject="别人的意见")
    client = as_user("a1.teacher")
    base = f"/s/a1/complaints/cases/{case.id}"
    page = client.get(base)
    assert page.status_code == 200
    assert "周末有偿补课" in page.get_data(as_text=True)
    assert client.post(f"{base}/advance/verifying").status_code == 302
    assert client.post(f"{base}/advance/handling").status_code == 302
    assert client.post(f"{base}/findings", data={
        "finding": "unsubstantiated", "verified_facts": "经核实，无补课情况。",
        "action_taken": "已与家长沟通说明。"}).status_code == 302
    assert client.post(f"{base}/note", data={"text": "已电话联系家长。"}).status_code == 302
    assert client.post(f"{base}/answer", data={"answer": "经核实，情况不属实。"}).status_code == 302
    assert all_cases()[0].status == "answered"
    # within her role: she does not close, reassign or decline, nor open others' cases
    assert client.post(f"{base}/close").status_code == 403
    assert client.get(f"/s/a1/complaints/cases/{other.id}").status_code == 403
    assert client.get("/s/a1/complaints/cases").status_code == 403
    # another teacher of the school, not in charge, cannot open or move it
    make.user("a1.teacher2", "teacher", county.a1)
    db.session.commit()
    stranger = as_user("a1.teacher2")
    assert stranger.get(base).status_code == 403
    assert stranger.post(f"{base}/note", data={"text": "看看"}).status_code == 403


def test_desk_lists_my_cases_due_and_overdue_first(ctx, county, as_user):
    later = _assigned_to_teacher(county, subject="稍后到期的意见")
    overdue = _assigned_to_teacher(county, subject="已经逾期的意见")
    overdue.answer_due = local_date(county.a) - timedelta(days=2)
    file_case(county.a1, subject="无人负责的意见")
    db.session.commit()
    client = as_user("a1.teacher")
    desk = client.get("/s/a1/desk/", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert "Opinions in my charge" in desk
    assert desk.index("已经逾期的意见") < desk.index("稍后到期的意见")
    assert f'href="/s/a1/complaints/cases/{overdue.id}"' in desk
    assert f'href="/s/a1/complaints/cases/{later.id}"' in desk
    assert "Overdue" in desk
    assert "无人负责的意见" not in desk
    # the admin is in charge of nothing: no panel of the box on her desk
    admin_desk = as_user("a1.admin").get("/s/a1/desk/", headers={"Accept-Language": "en"})
    assert "Opinions in my charge" not in admin_desk.get_data(as_text=True)
