"""Demo data: every state and channel, overdue and urged cases, one leadership report."""

from __future__ import annotations

import hashlib
import io

import sqlalchemy as sa
from PIL import Image

from blueprints.complaints import deadlines, services
from blueprints.complaints.choices import CHANNELS, STATUSES
from blueprints.complaints.models import AnswerTemplate, Attachment, Holiday
from blueprints.pledges.demo import SCHOOL_PLEDGES
from kaimen import local_date, utcnow
from kaimen.extensions import db
from kaimen.tenancy import all_schools
from kaimen.uploads import sniff

from .helpers import all_cases


def counts() -> dict[str, dict[int, int]]:
    """Count templates and attachments per school, holidays per bureau."""
    result = {}
    for model, owner in ((AnswerTemplate, AnswerTemplate.school_id),
                         (Attachment, Attachment.school_id), (Holiday, Holiday.bureau_id)):
        rows = db.session.execute(all_schools(
            sa.select(owner, sa.func.count()).select_from(model).group_by(owner))).all()
        result[model.__name__] = dict(rows)
    return result


def test_demo_load_through_the_cli_is_complete_and_idempotent(app, ctx, county):
    runner = app.test_cli_runner()
    result = runner.invoke(args=["kaimen", "demo", "load"])
    assert result.exit_code == 0, result.output
    cases = all_cases()
    assert {c.school_id for c in cases} == {county.a1.id, county.a2.id, county.b1.id}
    assert {c.status for c in cases} == set(STATUSES)
    assert {c.channel for c in cases} == set(CHANNELS)
    assert sum(c.about_leadership for c in cases) == 2  # the first school of each county
    today = local_date(county.a)
    assert any(services.is_overdue(c, today) for c in cases)
    assert any(c.urged_count for c in cases)
    assert all(c.owner_id for c in cases if c.status not in ("received", "not_accepted"))
    for case in cases:
        if case.status == "closed":
            assert services.missing_for_closing(case) == []
    made = counts()
    schools = {county.a1.id, county.a2.id, county.b1.id}
    assert set(made["AnswerTemplate"]) == schools
    assert set(made["Attachment"]) == schools
    assert {county.a.id, county.b.id} <= set(made["Holiday"])
    again = runner.invoke(args=["kaimen", "demo", "load"])
    assert again.exit_code == 0
    assert len(all_cases()) == len(cases)
    assert counts() == made


def test_demo_photos_are_valid_files_of_their_cases(app, ctx, county):
    assert app.test_cli_runner().invoke(args=["kaimen", "demo", "load"]).exit_code == 0
    files = db.session.scalars(all_schools(sa.select(Attachment))).all()
    assert files
    for stored in files:
        assert stored.complaint.school_id == stored.school_id
        assert sniff(stored.content[:16]) == stored.content_type == "image/png"
        assert stored.size == len(stored.content)
        assert stored.sha256 == hashlib.sha256(stored.content).hexdigest()
        with Image.open(io.BytesIO(stored.content)) as image:
            image.load()  # decodes every row: a broken file raises here
            assert image.format == "PNG"
            assert image.size == (64, 40)


def test_demo_histories_are_possible_and_agree_with_the_pledges(app, ctx, county):
    assert app.test_cli_runner().invoke(args=["kaimen", "demo", "load"]).exit_code == 0
    now = utcnow()
    for case in all_cases():
        times = [event.created_at for event in case.events]
        assert times == sorted(times), case.subject
        assert all(when <= now for when in times), case.subject
        for event in case.events:
            if event.action == "urged":
                assert event.due is not None
                assert event.due >= event.created_at.date(), case.subject
                assert case.answer_due == event.due  # the new deadline is the one that counts
        # the demo schools are primary schools: no junior-secondary grades
        grades = ("初一", "初二", "初三")
        assert not any(grade in case.description for grade in grades), case.subject
        if case.answered_at is not None:
            assert case.answered_on_time, case.subject
    # the pledge promises an answer in three working days; the box's time limit agrees
    promise = next(text for title, text, _who in SCHOOL_PLEDGES if "限时答复" in title)
    assert "三个工作日内答复" in promise
    assert deadlines.settings_of(county.a).answer_days == 3
