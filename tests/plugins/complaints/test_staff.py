"""School staff: lists, the workflow through the pages, entry, exports, files."""

from __future__ import annotations

import csv
import io

import openpyxl
import pytest
from werkzeug.datastructures import FileStorage, MultiDict
from werkzeug.test import encode_multipart

from blueprints.complaints import services
from kaimen import local_date
from kaimen.extensions import db

from .helpers import all_cases, file_case

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


def test_staff_list_and_case_page(ctx, county, as_user):
    case, _code = file_case(county.a1, subject="校门口交通拥堵")
    client = as_user("a1.admin")
    page = client.get("/s/a1/complaints/cases")
    assert page.status_code == 200
    assert "校门口交通拥堵" in page.get_data(as_text=True)
    shown = client.get(f"/s/a1/complaints/cases/{case.id}")
    assert shown.status_code == 200
    assert shown.headers["Cache-Control"] == "no-store"


def test_teacher_enters_but_cannot_list(ctx, county, as_user):
    client = as_user("a1.teacher")
    assert client.get("/s/a1/complaints/cases").status_code == 403
    response = client.post("/s/a1/complaints/enter", data={
        "channel": "home_visit", "received_on": "2026-01-05", "kind": "suggestion",
        "category": "teaching", "subject": "希望增加课后服务", "identity": "anonymous",
        "description": "家访时家长提出希望学校增加课后托管服务。"})
    assert response.status_code == 200
    assert "receipt-code" in response.get_data(as_text=True)
    (case,) = all_cases()
    assert case.channel == "home_visit"
    assert case.entered_by_id == county.users["a1.teacher"].id


def test_workflow_through_the_pages(ctx, county, as_user):
    case, code = file_case(county.a1, category="paid_tutoring", anonymous=False,
                           contact_name="王女士", contact_email="wang@example.cn")
    client = as_user("a1.admin")
    owner = county.users["a1.teacher"]
    base = f"/s/a1/complaints/cases/{case.id}"
    assert client.post(f"{base}/accept", data={"owner": owner.id}).status_code == 302
    assert client.post(f"{base}/advance/verifying").status_code == 302
    assert client.post(f"{base}/advance/handling").status_code == 302
    refused = client.post(f"{base}/findings", data={
        "finding": "substantiated", "verified_facts": "属实", "action_taken": "停止补课"})
    assert refused.status_code == 400  # a substantiated case needs its correction
    assert client.post(f"{base}/findings", data={
        "finding": "substantiated", "verified_facts": "该教师周末在家有偿补课。",
        "action_taken": "责令停止补课，退还补课费。",
        "correction": "给予警告处分，调离班主任岗位。",
    }).status_code == 302
    answer = {"answer": "您反映的问题属实，已严肃处理。"}
    assert client.post(f"{base}/answer", data=answer).status_code == 302
    assert client.post(f"{base}/reward").status_code == 302
    paid = {"amount": "300元", "paid_on": "2026-01-10"}
    assert client.post(f"{base}/reward/paid", data=paid).status_code == 302
    assert client.post(f"{base}/close").status_code == 302
    (stored,) = all_cases()
    assert stored.status == "closed"
    assert stored.reward_status == "paid"
    assert stored.owner_id == owner.id
    tracked = client.post("/track", data={"code": code}).get_data(as_text=True)
    assert "您反映的问题属实，已严肃处理。" in tracked
    assert "调离" not in tracked  # the correction is internal; the answer is public


def test_closing_without_findings_is_refused_with_reasons(ctx, county, as_user):
    case, _code = file_case(county.a1)
    owner = county.users["a1.admin"]
    services.accept(case, owner, owner)
    services.advance(case, "verifying", owner)
    services.advance(case, "handling", owner)
    services.answer(case, "已处理。", owner)
    from kaimen.extensions import db

    db.session.commit()
    client = as_user("a1.admin")
    response = client.post(f"/s/a1/complaints/cases/{case.id}/close")
    assert response.status_code == 409
    assert all_cases()[0].status == "answered"


def test_reject_needs_explanation_and_keeps_state(ctx, county, as_user):
    case, _code = file_case(county.a1)
    client = as_user("a1.admin")
    response = client.post(f"/s/a1/complaints/cases/{case.id}/reject",
                           data={"reason": "duplicate", "explanation": ""})
    assert response.status_code == 400
    assert all_cases()[0].status == "received"


def test_batch_entry_creates_one_case_per_filled_row(ctx, county, as_user):
    client = as_user("a1.admin")
    data = {"channel": "paper_box", "received_on": "2026-01-05"}
    for i, subject in enumerate(["厕所卫生差", "校车超载"]):
        data[f"rows-{i}-kind"] = "complaint"
        data[f"rows-{i}-category"] = "logistics"
        data[f"rows-{i}-subject"] = subject
        data[f"rows-{i}-text"] = f"{subject}，希望学校重视。"
    assert client.post("/s/a1/complaints/batch", data=data).status_code == 302
    assert sorted(c.subject for c in all_cases()) == ["厕所卫生差", "校车超载"]
    assert {c.channel for c in all_cases()} == {"paper_box"}


def test_list_filters(ctx, county, as_user):
    file_case(county.a1, subject="校服价格贵", category="fees")
    file_case(county.a1, subject="操场积水", category="facilities", channel="hotline")
    client = as_user("a1.admin")
    page = client.get("/s/a1/complaints/cases?category=facilities").get_data(as_text=True)
    assert "操场积水" in page
    assert "校服价格贵" not in page
    page = client.get("/s/a1/complaints/cases?channel=hotline&q=积水").get_data(as_text=True)
    assert "操场积水" in page
    page = client.get("/s/a1/complaints/cases?q=%25").get_data(as_text=True)
    assert "操场积水" not in page


def test_exports_keep_anonymity(ctx, county, as_user):
    file_case(county.a1, subject="=HYPERLINK(\"x\")", contact_name="不应出现")
    file_case(county.a1, subject="具名意见", anonymous=False, contact_name="赵先生",
              contact_phone="13900000000")
    client = as_user("a1.admin")
    response = client.get("/s/a1/complaints/cases/export.csv")
    body = response.get_data()
    assert body.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))
    assert len(rows) == 3
    text = body.decode("utf-8-sig")
    assert "不应出现" not in text
    assert "赵先生" in text
    assert "13900000000" not in text
    assert "'=HYPERLINK" in text
    response = client.get("/s/a1/complaints/cases/export.xlsx")
    sheet = openpyxl.load_workbook(io.BytesIO(response.get_data())).active
    values = [cell.value for row in sheet.iter_rows() for cell in row]
    assert "赵先生" in values
    assert "不应出现" not in values


def test_excel_export_has_every_audited_column_and_a_dated_name(ctx, county, as_user):
    case, _code = file_case(county.a1, subject="有偿补课", category="paid_tutoring")
    owner = county.users["a1.admin"]
    services.accept(case, owner, owner)
    services.advance(case, "verifying", owner)
    services.record_findings(case, "substantiated", "该教师周末在家有偿补课。", "责令停止补课。",
                             "给予警告处分。", owner)
    db.session.commit()
    client = as_user("a1.admin")
    response = client.get("/s/a1/complaints/cases/export.xlsx",
                          headers={"Accept-Language": "en"})
    today = local_date(county.a).isoformat()
    assert f'filename="opinions-a1-{today}.xlsx"' in response.headers["Content-Disposition"]
    sheet = openpyxl.load_workbook(io.BytesIO(response.get_data())).active
    header, row = ([cell.value for cell in line] for line in sheet.iter_rows())
    for column in ("Finding", "Verified facts", "Action taken", "Correction or discipline",
                   "Answer", "Answered on time", "Satisfied", "Urged", "Handled by the bureau"):
        assert column in header, column
    record = dict(zip(header, row, strict=True))
    assert record["Verified facts"] == "该教师周末在家有偿补课。"
    assert record["Correction or discipline"] == "给予警告处分。"
    bureau = as_user("a.supervisor").get("/b/county-a/complaints/export.csv")
    assert f"opinions-county-a-{today}.csv" in bureau.headers["Content-Disposition"]


def test_attachment_served_only_to_staff_as_download(ctx, county, client, as_user):
    from .helpers import form_token, opinion

    data = opinion(token=form_token(client))
    data["attachments"] = [(io.BytesIO(PNG), "照片.png")]
    assert client.post("/s/a1/complaints/", data=data,
                       content_type="multipart/form-data").status_code == 200
    (case,) = all_cases()
    (stored,) = case.attachments
    url = f"/s/a1/complaints/cases/{case.id}/files/{stored.id}"
    assert client.get(url).status_code == 302  # anonymous: to the login page
    staff = as_user("a1.admin")
    response = staff.get(url)
    assert response.status_code == 200
    assert response.data == PNG
    assert response.headers["Content-Disposition"].startswith("attachment")
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.mimetype == "image/png"


@pytest.mark.parametrize(("name", "content", "message"), [
    ("page.html", b"<html><script>alert(1)</script>", "PDF"),
    ("fake.png", b"MZ\x90\x00" + b"\x00" * 32, "PDF"),
    ("big.pdf", b"%PDF-1.4" + b"0" * (5 * 1024 * 1024), "5 MB"),
])
def test_bad_uploads_store_nothing(ctx, county, client, name, content, message):
    from .helpers import form_token, opinion

    data = opinion(token=form_token(client), subject="保留的主题")
    data["attachments"] = FileStorage(io.BytesIO(content), name)
    # Encoded in memory: the test client would spool a large body to an unclosed temp file.
    boundary, body = encode_multipart(MultiDict(data))
    response = client.post("/s/a1/complaints/", data=body,
                           content_type=f"multipart/form-data; boundary={boundary}")
    page = response.get_data(as_text=True)
    # the message names the file and the rule broken, in whichever language is compiled
    error = page[page.index('id="attachments-error">'):][:200]
    assert error.startswith(f'id="attachments-error">{name}')
    assert message in error
    assert response.status_code == 200
    assert message in page
    assert "保留的主题" in page
    assert all_cases() == []


def test_too_many_files_store_nothing(ctx, county, client):
    from .helpers import form_token, opinion

    data = opinion(token=form_token(client))
    data["attachments"] = [(io.BytesIO(PNG), f"{i}.png") for i in range(6)]
    response = client.post("/s/a1/complaints/", data=data, content_type="multipart/form-data")
    assert "receipt-code" not in response.get_data(as_text=True)
    assert all_cases() == []


def test_another_schools_case_answers_404_and_changes_nothing(ctx, county, as_user):
    case, _code = file_case(county.a2, subject="二校的意见")
    client = as_user("a1.admin")
    base = f"/s/a1/complaints/cases/{case.id}"
    assert client.get(base).status_code == 404
    assert client.post(f"{base}/accept", data={"owner": county.users["a1.admin"].id}
                       ).status_code == 404
    assert client.post(f"{base}/note", data={"text": "越权"}).status_code == 404
    (stored,) = all_cases()
    assert stored.status == "received"
    assert [e.action for e in stored.events] == ["submitted"]


def test_filters_fold_away_unless_one_is_active(ctx, county, as_user):
    client = as_user("a.supervisor")
    for path in ("/s/a1/complaints/cases", "/b/county-a/complaints/"):
        plain = client.get(path).get_data(as_text=True)
        assert '<details class="filters-fold">' in plain
        assert 'name="status"' in plain  # the filters are inside, folded
        filtered = client.get(f"{path}?status=received").get_data(as_text=True)
        assert '<details class="filters-fold" open>' in filtered
