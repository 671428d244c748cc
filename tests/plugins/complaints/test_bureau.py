"""Leadership reports, the bureau's supervision, figures, overdue notices and mail."""

from __future__ import annotations

import csv
import email
import email.policy
import io
import re
import socket
from datetime import date, timedelta

import openpyxl
import pytest
import sqlalchemy as sa

from blueprints.complaints import metrics, services
from blueprints.complaints.models import Complaint
from kaimen import tenancy
from kaimen.audit import AuditEvent
from kaimen.extensions import db
from kaimen.notify import Notification

from .helpers import all_cases, file_case

SECRET = "校长挪用家长委员会经费"


@pytest.fixture
def leadership_case(ctx, county):
    file_case(county.a1, subject="普通意见：午餐太咸")
    case, _code = file_case(county.a1, subject=SECRET, about_leadership=True,
                            category="office", description="校长挪用家长委员会经费用于接待。")
    return case


@pytest.mark.parametrize("username", ["a1.admin", "a1.teacher"])
def test_leadership_report_invisible_to_school_accounts(leadership_case, as_user, username):
    client = as_user(username)
    for path in ["/s/a1/complaints/cases", "/s/a1/complaints/cases?q=校长",
                 "/s/a1/complaints/cases/export.csv", "/s/a1/complaints/cases/export.xlsx",
                 "/s/a1/", "/s/a1/complaints/"]:
        response = client.get(path)
        if response.mimetype.endswith("sheet"):
            sheet = openpyxl.load_workbook(io.BytesIO(response.data)).active
            text = " ".join(str(c.value) for row in sheet.iter_rows() for c in row)
        else:
            text = response.get_data(as_text=True)
        assert SECRET not in text, path
        assert "挪用" not in text, path
    assert client.get(f"/s/a1/complaints/cases/{leadership_case.id}").status_code in (403, 404)
    assert client.post(f"/s/a1/complaints/cases/{leadership_case.id}/note",
                       data={"text": "看看"}).status_code in (403, 404)


def test_leadership_report_not_counted_for_the_school(leadership_case, county, as_user):
    client = as_user("a1.admin")
    csv_rows = list(csv.reader(io.StringIO(
        client.get("/s/a1/complaints/cases/export.csv").get_data().decode("utf-8-sig"))))
    assert len(csv_rows) == 2  # the header and the one ordinary opinion
    file_case(county.a2, subject="另一所学校的意见")
    page = client.get("/s/a1/complaints/cases")
    assert re.search(r"(共 1 条意见|1 opinion) ·", page.get_data(as_text=True))
    school_home = client.get("/s/a1/").get_data(as_text=True)
    assert "<dd>1</dd>" in school_home


def test_bureau_sees_and_handles_leadership_report(leadership_case, county, as_user):
    client = as_user("a.supervisor")
    listing = client.get("/b/county-a/complaints/").get_data(as_text=True)
    assert SECRET in listing
    export = client.get("/b/county-a/complaints/export.csv").get_data().decode("utf-8-sig")
    assert SECRET in export
    assert client.get(f"/s/a1/complaints/cases/{leadership_case.id}").status_code == 200
    supervisor = county.users["a.supervisor"]
    response = client.post(f"/s/a1/complaints/cases/{leadership_case.id}/accept",
                           data={"owner": supervisor.id})
    assert response.status_code == 302
    # a school account is not offered, nor accepted, as owner of a leadership report
    assert all_cases()[1].owner_id == supervisor.id


def test_school_staff_cannot_be_owner_of_leadership_report(leadership_case, county, as_user):
    client = as_user("a.supervisor")
    response = client.post(f"/s/a1/complaints/cases/{leadership_case.id}/accept",
                           data={"owner": county.users["a1.admin"].id})
    assert response.status_code == 400
    assert all_cases()[1].status == "received"


def test_leader_sees_but_cannot_act(leadership_case, as_user):
    client = as_user("a.leader")
    assert client.get(f"/s/a1/complaints/cases/{leadership_case.id}").status_code == 200
    assert client.post(f"/s/a1/complaints/cases/{leadership_case.id}/advance/verifying"
                       ).status_code == 403


def test_other_bureau_sees_nothing(leadership_case, as_user):
    client = as_user("b.supervisor")
    assert client.get(f"/s/a1/complaints/cases/{leadership_case.id}").status_code == 404
    assert client.get("/b/county-a/complaints/").status_code == 404


def test_urge_and_take_over_through_the_pages(ctx, county, as_user):
    case, _code = file_case(county.a1)
    owner = county.users["a1.teacher"]
    services.accept(case, owner, county.users["a1.admin"])
    db.session.commit()
    client = as_user("a.supervisor")
    new_due = (date.today() + timedelta(days=3)).isoformat()
    response = client.post(f"/s/a1/complaints/cases/{case.id}/urge",
                           data={"note": "请尽快答复家长。", "new_due": new_due})
    assert response.status_code == 302
    (stored,) = all_cases()
    assert stored.urged_count == 1
    assert stored.answer_due.isoformat() == new_due
    # the take-over asks for confirmation first
    assert client.post(f"/s/a1/complaints/cases/{case.id}/take-over").status_code == 400
    assert not all_cases()[0].handled_by_bureau
    assert client.post(f"/s/a1/complaints/cases/{case.id}/take-over",
                       data={"confirm": "y"}).status_code == 302
    assert all_cases()[0].handled_by_bureau
    # the school can no longer move the bureau's case on
    school = as_user("a1.admin")
    assert school.post(f"/s/a1/complaints/cases/{case.id}/advance/verifying").status_code == 403
    assert school.post(f"/s/a1/complaints/cases/{case.id}/urge",
                       data={"note": "x", "new_due": new_due}).status_code == 403


def test_bureau_metrics_fixed_queries(app, ctx, county):
    owner = county.users["a1.admin"]
    for subject in ("一", "二", "三"):
        case, _code = file_case(county.a1, subject=subject)
    services.accept(case, owner, owner)
    services.advance(case, "verifying", owner)
    services.advance(case, "handling", owner)
    services.answer(case, "已答复。", owner)
    services.feedback(case, True)
    file_case(county.a2, subject="四", about_leadership=True)
    with app.test_request_context(), tenancy.system_scope():
        table = metrics.bureau_table(county.a, [county.a1, county.a2])
    assert table.rows[county.a1.id][:3] == [3, 2, 0]
    assert table.rows[county.a1.id][4:] == ["100%", "100%"]
    assert table.rows[county.a2.id][0] == 1
    assert table.total[0] == 4


def test_overdue_command_notifies_once_per_deadline(app, ctx, county):
    county.users["a1.admin"].email = "a1@example.cn"
    county.users["a.supervisor"].email = "sup@example.cn"
    case, _code = file_case(county.a1, received_on=date.today() - timedelta(days=30))
    hidden, _code = file_case(county.a1, received_on=date.today() - timedelta(days=30),
                              about_leadership=True)
    db.session.commit()
    runner = app.test_cli_runner()
    result = runner.invoke(args=["kaimen", "complaints", "overdue"])
    assert result.exit_code == 0, result.output
    assert "2 overdue cases noticed" in result.output
    messages = db.session.scalars(sa.select(Notification).order_by(Notification.id)).all()
    recipients = sorted(m.recipient for m in messages)
    # the leadership report reaches the supervisor only, never the school
    assert recipients == ["a1@example.cn", "sup@example.cn", "sup@example.cn"]
    again = runner.invoke(args=["kaimen", "complaints", "overdue"])
    assert "0 overdue cases noticed" in again.output


def test_answer_reaches_named_complainant_by_real_smtp(app, ctx, county):
    aiosmtpd = pytest.importorskip("aiosmtpd.controller")
    from aiosmtpd.handlers import Sink

    class Inbox(Sink):
        def __init__(self):
            self.messages = []

        async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's name
            self.messages.append(envelope)
            return "250 OK"

    inbox = Inbox()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = aiosmtpd.Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        app.config.update(MAIL_BACKEND="smtp", SMTP_HOST="127.0.0.1", SMTP_PORT=port)
        case, _code = file_case(county.a1, anonymous=False, contact_name="钱女士",
                                contact_email="qian@example.cn")
        owner = county.users["a1.admin"]
        services.accept(case, owner, owner)
        services.advance(case, "verifying", owner)
        services.advance(case, "handling", owner)
        services.answer(case, "您好，食堂价格已恢复并公示。", owner)
        db.session.commit()
        from kaimen.notify import deliver

        report = deliver()
        assert report.sent == 1
    finally:
        controller.stop()
    (envelope,) = inbox.messages
    assert envelope.rcpt_tos == ["qian@example.cn"]
    message = email.message_from_bytes(envelope.content, policy=email.policy.default)
    assert "食堂价格已恢复并公示" in message.get_content()
    assert "/track" in message.get_content()


def test_report_link_and_counts(app, ctx, county, client):
    with app.test_request_context():
        url = app.extensions["kaimen"].manager.hook.kaimen_report_link(
            school=county.a1, reference="pledge:12", title="不收取任何资料费")
    assert url.startswith("/s/a1/complaints/?")
    page = client.get(url).get_data(as_text=True)
    assert 'value="pledge:12"' in page
    assert "不收取任何资料费" in page
    file_case(county.a1, reference="pledge:12")
    proven, _code = file_case(county.a1, reference="pledge:12")
    owner = county.users["a1.admin"]
    services.accept(proven, owner, owner)
    services.advance(proven, "verifying", owner)
    services.record_findings(proven, "substantiated", "属实", "退费", "批评", owner)
    file_case(county.a1, reference="pledge:12", about_leadership=True)
    db.session.commit()
    with tenancy.system_scope():
        counts = metrics.report_counts([county.a1], ["pledge:12", "pledge:13"])
    assert counts == {"pledge:12": (2, 1)}
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Complaint)) == 2


def test_leader_adds_an_instruction_the_school_sees(ctx, county, as_user, client):
    case, code = file_case(county.a1, subject="食堂饭菜质量差")
    owner = county.users["a1.teacher"]
    owner.email = "teacher@a1.example.cn"
    services.accept(case, owner, county.users["a1.admin"])
    db.session.commit()
    leader = as_user("a.leader")
    base = f"/s/a1/complaints/cases/{case.id}"
    assert leader.post(f"{base}/instruction", data={"instruction": ""}).status_code == 400
    response = leader.post(f"{base}/instruction", data={"instruction": "请学校一周内整改并回复。"})
    assert response.status_code == 302
    (stored,) = all_cases()
    (event,) = [e for e in stored.events if e.action == "instruction"]
    assert event.body == "请学校一周内整改并回复。"
    assert event.actor_id == county.users["a.leader"].id
    assert not event.public
    with tenancy.system_scope():
        audited = db.session.scalars(sa.select(AuditEvent.action)).all()
        recipients = db.session.scalars(sa.select(Notification.recipient)).all()
    assert "complaint.instructed" in audited
    assert "teacher@a1.example.cn" in recipients
    # the school sees it on the case; the complainant does not
    school_page = as_user("a1.admin").get(base).get_data(as_text=True)
    assert "请学校一周内整改并回复。" in school_page
    tracked = client.post("/track", data={"code": code}).get_data(as_text=True)
    assert "请学校一周内整改并回复。" not in tracked
    # nobody else gives instructions
    assert as_user("a.supervisor").post(f"{base}/instruction",
                                        data={"instruction": "x"}).status_code == 403
