"""Markup that validators and screen readers rely on: ``<time datetime>`` values, headings."""

from __future__ import annotations

import re
from html.parser import HTMLParser

from blueprints.complaints import services as complaints
from blueprints.pledges import services as pledges
from blueprints.pledges.models import ETHICS
from kaimen.extensions import db

# What the HTML standard accepts in datetime=: a global date and time, to the second here
# (a fraction of at most three digits would be valid too, six is not).
VALID_DATETIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z")


class Outline(HTMLParser):
    """Collect the ``datetime`` values and the heading levels of a page, in order."""

    def __init__(self) -> None:
        super().__init__()
        self.times: list[str] = []
        self.levels: list[int] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "time":
            self.times.append(dict(attrs).get("datetime") or "")
        elif re.fullmatch(r"h[1-6]", tag):
            self.levels.append(int(tag[1]))


def outline(response) -> Outline:
    assert response.status_code == 200
    parsed = Outline()
    parsed.feed(response.get_data(as_text=True))
    return parsed


def assert_valid_times(times: list[str]) -> None:
    assert times, "the page shows a time"
    for value in times:
        assert VALID_DATETIME.fullmatch(value), value


def assert_sound(parsed: Outline) -> None:
    assert_valid_times(parsed.times)
    assert parsed.levels[0] == 1, parsed.levels
    for before, after in zip(parsed.levels, parsed.levels[1:], strict=False):
        assert after <= before + 1, f"h{before} is followed by h{after}: {parsed.levels}"


def test_pledge_pages_give_valid_times_and_skip_no_heading_level(ctx, county, app):
    admin, school = county.users["a1.admin"], county.a1
    pledge = pledges.publish_school_pledge(
        school, ETHICS, admin, title="Ethics", text="No paid tutoring.", answerable="Principal",
        school_year=pledges.current_school_year())
    pledges.add_update(pledge, "Every teacher read it aloud.", admin)
    db.session.commit()
    client = app.test_client()
    assert_sound(outline(client.get(f"/s/a1/pledges/{pledge.id}")))
    assert_sound(outline(client.get(f"/s/a1/pledges/{pledge.id}/history")))


def test_complaint_pages_give_valid_times(ctx, county, app, as_user):
    with app.test_client() as parent:
        page = parent.get("/s/a1/complaints/")
        token = re.search(r'name="token" type="hidden" value="([^"]+)"',
                          page.get_data(as_text=True))
        assert token
        receipt = parent.post("/s/a1/complaints/", content_type="multipart/form-data", data={
            "kind": "complaint", "category": "arbitrary_fees", "subject": "资料费",
            "description": "班主任要求交资料费。", "identity": "anonymous",
            "token": token.group(1)})
    assert_valid_times(outline(receipt).times)
    case = complaints.file_case(county.a1, complaints.Submission(
        kind="complaint", category="fees", subject="食堂涨价", description="每餐涨价两元。"))[0]
    db.session.commit()
    assert_valid_times(outline(as_user("a1.admin").get(f"/s/a1/complaints/cases/{case.id}")).times)
