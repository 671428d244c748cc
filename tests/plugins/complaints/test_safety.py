"""Bad input: script payloads escaped everywhere, fuzzed forms never answer 500."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from blueprints.complaints import services
from kaimen.extensions import db

from .helpers import all_cases, file_case, form_token, opinion, receipt_code

PAYLOAD = '<script>alert("x")</script><img src=x onerror=alert(1)>'


def test_script_payloads_are_escaped_on_every_page(ctx, county, client, as_user):
    token = form_token(client)
    response = client.post("/s/a1/complaints/", data=opinion(
        token=token, subject=PAYLOAD[:100], description=PAYLOAD + " 描述",
        identity="named", contact_name=PAYLOAD[:60], contact_email="x@example.cn"))
    code = receipt_code(response)
    assert PAYLOAD[:30] not in response.get_data(as_text=True)
    (case,) = all_cases()
    owner = county.users["a1.admin"]
    services.accept(case, owner, owner, note=PAYLOAD)
    services.advance(case, "verifying", owner)
    services.record_findings(case, "substantiated", PAYLOAD, PAYLOAD, PAYLOAD, owner)
    services.advance(case, "handling", owner)
    services.answer(case, PAYLOAD, owner)
    services.add_information(case, PAYLOAD)
    db.session.commit()
    tracked = client.post("/track", data={"code": code}).get_data(as_text=True)
    staff = as_user("a.supervisor")
    pages = [
        tracked,
        staff.get("/s/a1/complaints/cases").get_data(as_text=True),
        staff.get(f"/s/a1/complaints/cases/{case.id}").get_data(as_text=True),
        staff.get("/b/county-a/complaints/").get_data(as_text=True),
        staff.get(f"/s/a1/complaints/?title={PAYLOAD}&ref=x").get_data(as_text=True),
    ]
    for page in pages:
        assert "<script>alert" not in page
        assert "<img src=x" not in page
    assert "&lt;script&gt;" in pages[2]


def test_track_with_unknown_or_foreign_code_is_404(ctx, county, client):
    _case, code = file_case(county.a2)
    assert client.post("/s/a1/complaints/track", data={"code": code, "action": "information",
                                                       "text": "补充"}).status_code == 404
    assert client.post("/s/a1/complaints/track", data={"code": "nonsense"}).status_code == 404


def test_parent_adds_information_and_verdict(ctx, county, client):
    case, code = file_case(county.a1)
    response = client.post("/s/a1/complaints/track", data={
        "code": code, "action": "information", "text": "补充：收费时间是9月1日。"})
    assert response.status_code == 200
    assert "补充：收费时间是9月1日。" in response.get_data(as_text=True)
    refused = client.post("/s/a1/complaints/track", data={
        "code": code, "action": "feedback", "verdict": "no"})
    assert refused.status_code == 409  # not answered yet
    owner = county.users["a1.admin"]
    services.accept(case, owner, owner)
    services.advance(case, "verifying", owner)
    services.advance(case, "handling", owner)
    services.answer(case, "已退费。", owner)
    db.session.commit()
    response = client.post("/s/a1/complaints/track", data={
        "code": code, "action": "feedback", "verdict": "no", "comment": "只退了一半"},
        headers={"Accept-Language": "en"})
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "What you sent was added to the case" not in page  # not the information message
    assert "The case is open again and the education bureau has been told." in page
    (stored,) = all_cases()
    assert stored.status == "handling"
    assert stored.flagged_for_bureau


text = st.text(st.characters(codec="utf-8"), max_size=300)
fields = st.fixed_dictionaries({
    "kind": st.sampled_from(["complaint", "suggestion", "praise", "", "x"]),
    "category": st.sampled_from(["fees", "arbitrary_fees", "other", "", "nope"]),
    "subject": text, "description": text,
    "identity": st.sampled_from(["anonymous", "named", "", "?"]),
    "contact_name": text, "contact_phone": text, "contact_email": text,
    "about_leadership": st.sampled_from(["", "y", "on"]),
    "reference": text, "token": text, "website": st.sampled_from(["", "http://spam"]),
})


@settings(max_examples=40, deadline=None, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=fields)
def test_fuzzed_public_form_never_fails(app, county, data):
    app.config["COMPLAINTS_CLIENT_LIMIT"] = "10000 per minute"
    client = app.test_client()
    response = client.post("/s/a1/complaints/", data=data)
    assert response.status_code in (200, 400, 429)


@settings(max_examples=40, deadline=None, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(action=st.sampled_from(["information", "feedback", "", "x"]), body=text,
       verdict=st.sampled_from(["yes", "no", "", "maybe"]), mangle=st.booleans())
def test_fuzzed_tracking_post_never_fails(app, ctx, county, action, body, verdict, mangle):
    case, code = file_case(county.a1)
    client = app.test_client()
    response = client.post("/s/a1/complaints/track", data={
        "code": body if mangle else code, "action": action, "text": body,
        "verdict": verdict, "comment": body})
    assert response.status_code in (200, 400, 404, 409, 429)
