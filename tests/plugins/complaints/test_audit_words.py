"""The complaint box's audit events read in words on the supervisors' audit log."""

from __future__ import annotations

import re

from .helpers import file_case


def test_a_filed_opinion_is_named_and_linked_on_the_audit_log(app, county, as_user):
    case, _code = file_case(county.a1)
    client = as_user("a.supervisor")
    client.set_cookie("kaimen_locale", "en")
    html = client.get("/b/county-a/audit/").get_data(as_text=True)
    assert "Opinion filed" in html
    assert re.search(rf'<a href="/s/a1/complaints/cases/{case.id}">Opinion {case.id}</a>', html)
    client.set_cookie("kaimen_locale", "zh_Hans")
    assert "complaint.filed</" not in client.get("/b/county-a/audit/").get_data(as_text=True)
