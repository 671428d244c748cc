"""Every POST needs the CSRF token, whatever its content type; leadership reports stay hidden."""

from __future__ import annotations

import io
import re

import pytest
from openpyxl import load_workbook
from plugins.complaints.helpers import file_case

from kaimen.extensions import db


def post_urls(app, county) -> list[str]:
    values = {"school": "a1", "bureau": "county-a"}
    urls = []
    for rule in app.url_map.iter_rules():
        if "POST" not in (rule.methods or ()):
            continue
        url = rule.rule
        for name in rule.arguments:
            url = re.sub(rf"<(?:[a-z]+:)?{name}>", values.get(name, "1"), url)
        urls.append(url)
    return urls


@pytest.mark.parametrize("kind", ["form", "json", "text"])
def test_every_post_without_the_token_is_refused(app, ctx, county, as_user, kind):
    file_case(county.a1)
    client = as_user("a.admin") if kind != "text" else app.test_client()
    app.config["WTF_CSRF_ENABLED"] = True
    urls = post_urls(app, county)
    assert len(urls) > 20
    for url in urls:
        if kind == "json":
            response = client.post(url, json={"owner": 1, "text": "x"})
        elif kind == "text":
            response = client.post(url, data="owner=1", content_type="text/plain")
        else:
            response = client.post(url, data={"owner": "1", "text": "x", "csrf_token": "forged"})
        assert response.status_code == 400, url


def test_leadership_report_leaves_no_trace_for_the_school(ctx, county, as_user):
    file_case(county.a1, subject="普通意见甲")
    secret, _code = file_case(county.a1, subject="校长违规收费", about_leadership=True,
                              reference="pledge:1")
    db.session.commit()
    client = as_user("a1.admin")
    pages = ["/s/a1/complaints/cases", "/s/a1/complaints/cases?q=%E6%A0%A1%E9%95%BF",
             f"/s/a1/complaints/cases?q=%23{secret.id}", "/s/a1/complaints/cases/export.csv",
             "/s/a1/", "/s/a1/pledges/"]
    for url in pages:
        response = client.get(url)
        assert response.status_code == 200, url
        assert "校长违规收费" not in response.get_data(as_text=True), url
    workbook = load_workbook(io.BytesIO(client.get("/s/a1/complaints/cases/export.xlsx").data))
    cells = [str(c) for row in workbook.active.iter_rows(values_only=True) for c in row]
    assert "普通意见甲" in cells
    assert "校长违规收费" not in cells
    listing = client.get("/s/a1/complaints/cases").get_data(as_text=True)
    assert "普通意见甲" in listing
    for url in (f"/s/a1/complaints/cases/{secret.id}", "/b/county-a/complaints/",
                "/b/county-a/complaints/export.csv", "/b/county-a/audit/"):
        assert client.get(url).status_code == 404, url
    assert client.post(f"/s/a1/complaints/cases/{secret.id}/note",
                       data={"text": "x"}).status_code == 404
