"""Putting someone in charge: the school's staff by role, no default, a warning, a notice;
and each step says what it did."""

from __future__ import annotations

import re

import sqlalchemy as sa

from blueprints.complaints import services
from kaimen.extensions import db
from kaimen.notify import Notification
from kaimen.tenancy import system_scope

from .helpers import all_cases, file_case

EN = {"Accept-Language": "en"}


def _owner_options(page: str) -> list[tuple[str, str, bool]]:
    form = page[page.index("/accept"):]
    select = form[form.index('<select'):form.index("</select>")]
    return [(value, label, bool(selected)) for value, selected, label in re.findall(
        r'<option(?: selected)? value="([^"]*)"( selected)?[^>]*>([^<]*)</option>', select)]


def test_owner_choices_are_the_schools_staff_with_roles_and_no_default(ctx, county, as_user):
    case, _code = file_case(county.a1)
    client = as_user("a1.admin")
    page = client.get(f"/s/a1/complaints/cases/{case.id}", headers=EN).get_data(as_text=True)
    options = _owner_options(page)
    labels = [label for _value, label, _selected in options]
    assert labels[0] == "Choose who is in charge"
    assert "A1.Teacher (Teacher)" in labels
    assert "A1.Admin (School administrator)" in labels
    assert not any("Supervisor" in label for label in labels)  # bureau people: handing up only
    assert not any(selected for _v, _l, selected in options[1:])
    refused = client.post(f"/s/a1/complaints/cases/{case.id}/accept", data={"owner": "0"},
                          headers=EN)
    assert refused.status_code == 400
    assert "Choose who is in charge." in refused.get_data(as_text=True)
    assert all_cases()[0].status == "received"
    # the bureau's supervisor is not accepted as owner of a case the school handles
    supervisor = county.users["a.supervisor"].id
    assert client.post(f"/s/a1/complaints/cases/{case.id}/accept",
                       data={"owner": supervisor}).status_code == 400


def test_accepting_says_who_is_in_charge_and_warns_when_unreachable(ctx, county, as_user):
    case, _code = file_case(county.a1)
    teacher = county.users["a1.teacher"]
    client = as_user("a1.admin")
    base = f"/s/a1/complaints/cases/{case.id}"
    client.post(f"{base}/accept", data={"owner": teacher.id}, headers=EN)
    page = client.get(base, headers=EN).get_data(as_text=True)
    assert "Accepted. Person in charge: A1.Teacher." in page
    assert "A1.Teacher has no e-mail address or phone number" in page
    assert "Saved." not in page
    with system_scope():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Notification)) == 0
    # reachable now: the hand-over is notified through the outbox, and no warning shows
    teacher.email = "teacher@a1.example.cn"
    db.session.commit()
    client.post(f"{base}/reassign", data={"owner": county.users["a1.admin"].id}, headers=EN)
    client.get(base, headers=EN)  # shows, and so clears, the warning about the admin
    client.post(f"{base}/reassign", data={"owner": teacher.id}, headers=EN)
    page = client.get(base, headers=EN).get_data(as_text=True)
    assert "The person in charge is now A1.Teacher." in page
    assert "has no e-mail address" not in page
    with system_scope():
        recipients = db.session.scalars(sa.select(Notification.recipient)).all()
    assert "teacher@a1.example.cn" in recipients


def test_each_step_says_what_happened(ctx, county, as_user):
    case, _code = file_case(county.a1)
    owner = county.users["a1.admin"]
    services.accept(case, owner, owner)
    db.session.commit()
    client = as_user("a1.admin")
    base = f"/s/a1/complaints/cases/{case.id}"
    client.post(f"{base}/advance/verifying", headers=EN)
    assert "Verification started." in client.get(base, headers=EN).get_data(as_text=True)
    client.post(f"{base}/note", data={"text": "已联系家长。"}, headers=EN)
    assert "The internal note was added." in client.get(base, headers=EN).get_data(as_text=True)
