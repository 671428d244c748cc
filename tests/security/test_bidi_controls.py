"""Bidi control characters never reach what is stored ("Trojan Source" spoofing).

U+202A-U+202E (embeddings, overrides) and U+2066-U+2069 (isolates) make a name or a
title display as something else than what it says, e.g. a file name that reads ``fdp.exe``
as ``exe.pdf``. They are dropped where NUL is dropped; line breaks stay.
"""

from __future__ import annotations

import sqlalchemy as sa

from blueprints.pledges.models import Pledge
from kaimen.extensions import db
from kaimen.tenancy import system_scope

BIDI = "".join(map(chr, [*range(0x202A, 0x202F), *range(0x2066, 0x206A)]))


def test_bidi_controls_are_dropped_and_line_breaks_kept(ctx, county, as_user):
    client = as_user("a1.admin")
    response = client.post("/s/a1/pledges/new", data={
        "kind": "service", "title": f"课后\u202e服务{BIDI}",
        "text": "第一行\u2067\r\n第二行\n第三行", "answerable": "校\u202d长",
        "school_year": "2025-2026"})
    assert response.status_code == 302
    db.session.expire_all()
    with system_scope():
        (pledge,) = db.session.scalars(sa.select(Pledge)).all()
    assert (pledge.title, pledge.answerable) == ("课后服务", "校长")
    assert pledge.text.replace("\r\n", "\n") == "第一行\n第二行\n第三行"


def test_bidi_controls_in_a_query_are_dropped(ctx, county, as_user):
    client = as_user("a1.admin")
    response = client.get("/s/a1/complaints/cases?q=%E2%80%AE")
    assert response.status_code == 200
    assert "\u202e" not in response.get_data(as_text=True)


def test_a_login_name_with_a_bidi_control_is_the_same_name(client, county):
    response = client.post("/login", data={"username": "a1.\u2066admin", "password": "x"})
    assert response.status_code == 200
    response = client.post("/login", data={"username": "a1.\u202eadmin",
                                           "password": "correct horse battery"})
    assert response.status_code == 302
