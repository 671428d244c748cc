"""Parents and the public: the form, the receipt, double submission, tracking."""

from __future__ import annotations

import re

import pytest

from blueprints.complaints import services
from kaimen.extensions import db

from .helpers import all_cases, file_case, form_token, opinion, receipt_code


def test_form_answers_with_token_and_no_store(client, county):
    response = client.get("/s/a1/complaints/")
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    assert 'name="token"' in response.get_data(as_text=True)


def test_anonymous_submission_gives_receipt_and_keeps_nothing_personal(app, client, county, submit):
    # (contact details typed with "anonymous" are no longer dropped but asked about: below)
    response = submit()
    assert response.status_code == 200
    code = receipt_code(response)
    assert response.headers["Cache-Control"] == "no-store"
    with app.app_context():
        (case,) = all_cases()
        assert case.anonymous
        assert case.contact_name is None
        assert case.contact_phone is None
        assert case.status == "received"
        assert case.channel == "online"
        assert case.ack_due > case.received_on
        assert case.answer_due > case.ack_due
    page = client.post("/track", data={"code": code}).get_data(as_text=True)
    assert "班级收取资料费" in page


def test_retry_with_same_token_returns_same_receipt(app, client, county):
    token = form_token(client)
    first = client.post("/s/a1/complaints/", data=opinion(token=token))
    second = client.post("/s/a1/complaints/", data=opinion(token=token))
    assert receipt_code(first) == receipt_code(second)
    with app.app_context():
        assert len(all_cases()) == 1


def test_named_submission_requires_contact(app, client, county, submit):
    response = submit(identity="named", contact_name="李四")
    assert response.status_code == 200
    assert "receipt-code" not in response.get_data(as_text=True)
    assert "李四" in response.get_data(as_text=True)  # the input is kept
    with app.app_context():
        assert all_cases() == []


def test_honeypot_and_rate_limit(app, client, county):
    trapped = client.post("/s/a1/complaints/", data=opinion(token=form_token(client),
                                                            website="http://spam.example"))
    assert trapped.status_code == 400
    app.config["COMPLAINTS_CLIENT_LIMIT"] = "2 per minute"
    codes = [client.post("/s/a1/complaints/", data=opinion(token=form_token(client)),
                         headers={"Accept-Language": "zh-CN"}).status_code for _ in range(3)]
    assert codes == [200, 429, 429] or codes == [200, 200, 429]
    with app.app_context():
        assert len(all_cases()) == codes.count(200)


def test_tracking_page_shows_the_public_timeline(client, county, submit):
    """/track has no school in its URL: the receipt's school must be in scope for the
    case's events (loaded lazily) to show, under PostgreSQL's row-level security too."""
    code = receipt_code(submit())
    page = client.post("/track", data={"code": code}).get_data(as_text=True)
    timeline = page.split('<ol class="timeline">', 1)[1].split("</ol>", 1)[0]
    assert timeline.count("<li>") == 1  # "submitted"


def test_form_shows_the_time_limits_before_sending(ctx, county, client):
    services.set_time_limits(county.a, 1, 3)
    db.session.commit()
    page = client.get("/s/a1/complaints/", headers={"Accept-Language": "en"})
    text = page.get_data(as_text=True)
    assert "accepted within 1 working days, answered within 3 working days" in text
    assert "answered by" in text


def test_anonymous_with_contact_details_asks_which_was_meant(client, county, submit):
    response = submit(contact_name="李先生", contact_phone="13800138000")
    page = response.get_data(as_text=True)
    assert "receipt-code" not in page
    assert all_cases() == []  # nothing filed, nothing dropped
    assert 'value="13800138000"' in page  # what was typed is still there
    assert 'value="李先生"' in page
    assert "您选择了匿名提交，但填写了联系方式" in page
    # choosing "named" sends them
    named = submit(identity="named", contact_name="李先生", contact_phone="13800138000")
    assert "receipt-code" in named.get_data(as_text=True)
    (case,) = all_cases()
    assert case.contact_phone == "13800138000"


@pytest.mark.parametrize(("phone", "valid"), [
    ("13800138000", True), ("138 0013 8000", True), ("0715-1234567", True),
    ("010-12345678", True), ("12345", False), ("12800138000", False), ("0715-12345", False),
])
def test_contact_phone_is_a_mainland_mobile_or_landline(client, county, submit, phone, valid):
    response = submit(identity="named", contact_name="李先生", contact_phone=phone)
    assert ("receipt-code" in response.get_data(as_text=True)) is valid
    if not valid:
        assert "0715-1234567" in response.get_data(as_text=True)  # the message shows the forms


def test_the_service_keeps_no_contact_of_an_anonymous_case(ctx, county):
    kept, _code = file_case(county.a1, anonymous=True, contact_name="张三",
                            contact_phone="13800000000")
    assert kept.contact_name is None
    assert kept.contact_phone is None


def test_long_text_is_refused_with_its_count_never_cut(client, county, submit):
    form = client.get("/s/a1/complaints/", headers={"Accept-Language": "en"}).get_data(
        as_text=True)
    textarea = re.search(r"<textarea[^>]*>", form)
    assert textarea, "the form has a text area"
    assert "maxlength" not in textarea.group(0)  # a browser would cut a paste silently
    assert 'data-limit="5000"' in textarea.group(0)
    assert "At most 5000 characters." in form
    long_text = "家长反映的情况" * 857 + "。"  # 6,000 characters
    assert len(long_text) == 6000
    response = submit(description=long_text)
    page = response.get_data(as_text=True)
    assert "receipt-code" not in page
    assert all_cases() == []
    assert "6,000" in page
    assert "5,000" in page
    assert long_text in page  # what was written is all still there


def test_rate_limit_keeps_the_form_says_when_and_whom_to_call(app, ctx, client, county):
    county.a1.hotline = "0715-1234567"
    db.session.commit()
    app.config["COMPLAINTS_CLIENT_LIMIT"] = "2 per minute"
    en = {"Accept-Language": "en"}
    # validation failures do not count toward the limit
    for _ in range(3):
        bad = client.post("/s/a1/complaints/", data=opinion(token=form_token(client),
                                                            description="短"), headers=en)
        assert bad.status_code == 200
        assert "receipt-code" not in bad.get_data(as_text=True)
    for _ in range(2):
        sent = client.post("/s/a1/complaints/", data=opinion(token=form_token(client)),
                           headers=en)
        assert "receipt-code" in sent.get_data(as_text=True)
    limited = client.post("/s/a1/complaints/", data=opinion(
        token=form_token(client), subject="第三条意见的标题",
        description="这是第三条意见，内容应当保留在表单里。"), headers=en)
    assert limited.status_code == 429
    page = limited.get_data(as_text=True)
    assert "<form" in page
    assert 'value="第三条意见的标题"' in page  # what was typed is kept
    assert "这是第三条意见，内容应当保留在表单里。" in page
    assert "send it again after" in page
    assert "0715-1234567" in page
    assert len(all_cases()) == 2


FILES_ROW = re.compile(r"<dt>[^<]*</dt><dd>(\d+)</dd>")  # the only row that is a bare number


def test_receipt_counts_the_files_without_reading_them_back(app, client, county, submit):
    import io

    import sqlalchemy as sa

    from kaimen.tenancy import system_scope

    read_back: list[str] = []

    def note(_conn, _cursor, statement, *_rest):
        if "FROM complaint_attachment" in statement:
            read_back.append(statement)

    sa.event.listen(db.engine, "before_cursor_execute", note)
    try:
        without = submit()
        with_one = submit(attachments=[(io.BytesIO(b"%PDF-1.4\n%%EOF\n"), "说明.pdf")])
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", note)
    assert FILES_ROW.findall(without.get_data(as_text=True)) == ["0"]
    assert FILES_ROW.findall(with_one.get_data(as_text=True)) == ["1"]
    # A new case's files are what was just sent: the page asks the database for none.
    assert read_back == []
    with app.app_context(), system_scope():
        from blueprints.complaints.models import Attachment

        assert db.session.scalar(sa.select(sa.func.count()).select_from(Attachment)) == 1
