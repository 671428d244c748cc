"""Helpers for the complaint box's tests: filing opinions and finding cases."""

from __future__ import annotations

import re
from typing import Any

import pytest
import sqlalchemy as sa

from blueprints.complaints.models import Complaint, with_leadership
from kaimen.extensions import db
from kaimen.tenancy import system_scope

CODE = re.compile(r'class="receipt-code">(.*?)</p>')
TAGS = re.compile(r"<[^>]+>")
TOKEN = re.compile(r'name="token" type="hidden" value="([^"]+)"')


def form_token(client: Any, school: str = "a1") -> str:
    page = client.get(f"/s/{school}/complaints/").get_data(as_text=True)
    match = TOKEN.search(page)
    assert match, "the form carries a one-time token"
    return match.group(1)


def opinion(**fields: Any) -> dict[str, Any]:
    """Return a valid public form submission, with ``fields`` changed."""
    data = {
        "kind": "complaint",
        "category": "arbitrary_fees",
        "subject": "班级收取资料费",
        "description": "三年级二班班主任要求每位学生交200元资料费，没有收据。",
        "identity": "anonymous",
    }
    data.update(fields)
    return data


def receipt_code(response: Any) -> str:
    match = CODE.search(response.get_data(as_text=True))
    assert match, "the receipt page shows the code"
    code = TAGS.sub("", match.group(1))  # the groups are spans, so they wrap whole
    assert re.fullmatch(r"[0-9A-Z-]{24}", code), code
    return code


@pytest.fixture
def submit(client: Any) -> Any:
    """Post an opinion to a school's box; return the response."""

    def post(school: str = "a1", **fields: Any) -> Any:
        data = opinion(**fields)
        data.setdefault("token", form_token(client, school))
        return client.post(f"/s/{school}/complaints/", data=data,
                           content_type="multipart/form-data")

    return post


def all_cases() -> list[Complaint]:
    """Return every case of every school, leadership reports included (system scope).

    The cases are read again from the database: requests run in their own session,
    so what the test's session loaded earlier does not show what they changed.
    """
    db.session.expire_all()
    with system_scope():
        statement = with_leadership(sa.select(Complaint).order_by(Complaint.id))
        return list(db.session.scalars(statement))


def file_case(school: Any, **fields: Any) -> tuple[Complaint, str]:
    """File a case directly through the service (system scope); return it and its code."""
    from blueprints.complaints import services

    values = {"kind": "complaint", "category": "fees", "subject": "食堂饭菜价格上涨",
              "description": "本学期食堂每餐涨价两元，没有公示。"}
    values.update(fields)
    with system_scope():
        case, code = services.file_case(school, services.Submission(**values))
        db.session.commit()
    return case, code
