"""A NUL character in any request value gets the page's ordinary answer, never a 500.

PostgreSQL refuses NUL in text parameters, so before the request class dropped
them, one ``%00`` in a login name, a search box or a form field was a server error.
"""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from blueprints.pledges.models import Pledge
from kaimen.extensions import db
from kaimen.tenancy import system_scope

CASES = [
    (None, "post", "/login", {"username": "a1.admin\x00", "password": "x"}),
    (None, "post", "/track", {"code": "7K3M\x00"}),
    ("a1.admin", "get", "/s/a1/complaints/cases?q=fee%00s", None),
    ("a1.admin", "get", "/s/a1/complaints/cases/export.csv?q=%00", None),
    ("a.supervisor", "get", "/b/county-a/complaints/?q=fee%00s", None),
    ("a.supervisor", "get", "/b/county-a/audit/?actor=a%00b&action=x%00", None),
    ("a1.admin", "post", "/s/a1/admin/", {"name": "一小\x00"}),
    ("a.supervisor", "post", "/b/county-a/pledges/new",
     {"title": "承诺\x00", "text": "内容", "answerable": "局长", "school_year": "2025-2026",
      "unit": ""}),
]


@pytest.mark.parametrize(("who", "method", "url", "data"), CASES)
def test_nul_in_a_request_value_is_no_server_error(ctx, county, client, as_user, who, method,
                                                   url, data):
    if who:
        as_user(who)
    response = getattr(client, method)(url, data=data) if data else client.get(url)
    assert response.status_code < 500


def test_nul_is_dropped_from_what_is_saved(ctx, county, as_user):
    client = as_user("a1.admin")
    response = client.post("/s/a1/pledges/new", data={
        "kind": "service", "title": "课后\x00服务", "text": "每天\x00免费", "answerable": "校长",
        "school_year": "2025-2026"})
    assert response.status_code == 302
    db.session.expire_all()
    with system_scope():
        (pledge,) = db.session.scalars(sa.select(Pledge)).all()
    assert (pledge.title, pledge.text) == ("课后服务", "每天免费")
