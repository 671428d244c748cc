"""The ledger: progress with evidence, urging, sign-off by the bureau only, the window."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
import sqlalchemy as sa
from flask_babel import force_locale

from blueprints.complaints.models import Complaint
from blueprints.plans import ledger, metrics
from blueprints.plans.models import Measure
from blueprints.plans.services import PlanError
from kaimen.extensions import db
from kaimen.notify import Notification
from kaimen.timeutil import local_date

from .conftest import PDF, done_with_evidence


def item(measure_id: int) -> Measure:
    db.session.expire_all()
    return db.session.get(Measure, measure_id)


def test_progress_with_evidence_through_the_page(approved, client, as_user):
    measure = approved.measures[2]
    as_user("a1.admin")
    response = client.post(f"/s/a1/plans/items/{measure.id}/progress", data={
        "status": "in_progress", "text": "Two teachers at the gate every morning",
        "evidence": [(io.BytesIO(PDF), "rota.pdf")]}, content_type="multipart/form-data")
    assert response.status_code == 302
    stored = item(measure.id)
    assert stored.status == "in_progress"
    assert [e.filename for e in stored.evidence] == ["rota.pdf"]
    download = client.get(f"/s/a1/plans/evidence/{stored.evidence[0].id}")
    assert download.data == PDF
    assert download.headers["Content-Disposition"].startswith("attachment")


def test_evidence_that_is_not_a_photo_or_pdf_is_refused(approved, client, as_user):
    measure = approved.measures[2]
    as_user("a1.admin")
    page = client.post(f"/s/a1/plans/items/{measure.id}/progress", data={
        "status": "done", "evidence": [(io.BytesIO(b"MZ\x90\x00"), "virus.exe")]},
        content_type="multipart/form-data")
    assert "is not a photo" in page.get_data(as_text=True)
    assert item(measure.id).status == "not_started"


def test_a_draft_measure_is_not_a_ledger_item(drafted, county):
    with pytest.raises(PlanError, match="approved plan"):
        ledger.report_progress(drafted.measures[0], "done", "x", [], county.users["a1.admin"])


def test_sign_off_needs_done_evidence_and_closed_opinions(approved, county):
    supervisor, admin = county.users["a.supervisor"], county.users["a1.admin"]
    measure = approved.measures[0]  # its problem answers an opinion still open
    with pytest.raises(PlanError) as refused:
        ledger.sign_off(measure, "", supervisor)
    message = str(refused.value)
    assert "not marked it done" in message
    assert "no evidence" in message
    assert f"#{approved.case}" in message
    done_with_evidence(measure, admin)
    db.session.get(Complaint, approved.case).status = "closed"
    ledger.sign_off(measure, "Checked on site", supervisor)
    assert measure.signed_off
    with pytest.raises(PlanError, match="signed off"):
        ledger.report_progress(measure, "in_progress", "again", [], admin)
    with pytest.raises(PlanError, match="reason"):
        ledger.reopen(measure, " ", supervisor)
    ledger.reopen(measure, "The fee came back", supervisor)
    assert not measure.signed_off
    assert measure.status == "in_progress"
    assert [n.kind for n in measure.notes][:3] == ["reopen", "signoff", "progress"]


def test_only_the_bureau_signs_off(approved, county, client, as_user):
    measure = approved.measures[2]
    done_with_evidence(measure, county.users["a1.admin"])
    db.session.commit()
    as_user("a1.admin")
    assert client.post(f"/s/a1/plans/items/{measure.id}/signoff").status_code == 403
    assert client.post(f"/s/a1/plans/items/{measure.id}/urge",
                       data={"instruction": "x", "due_on": "2030-01-01"}).status_code == 403
    assert not item(measure.id).signed_off
    client.get("/logout")
    as_user("a.supervisor")
    client.post(f"/s/a1/plans/items/{measure.id}/signoff", data={"note": "OK"})
    assert item(measure.id).signed_off


def test_urging_tells_the_school(approved, county, client, as_user):
    measure = approved.measures[1]
    as_user("a.supervisor")
    due = local_date(county.a) + timedelta(days=7)
    client.post(f"/s/a1/plans/items/{measure.id}/urge",
                data={"instruction": "Refund before the holidays", "due_on": due.isoformat()})
    assert item(measure.id).urged_until == due
    bodies = db.session.scalars(sa.select(Notification.body).where(
        Notification.recipient == "a1.admin@example.org")).all()
    assert any("Refund before the holidays" in body for body in bodies)
    past = client.post(f"/s/a1/plans/items/{measure.id}/urge",
                       data={"instruction": "Late", "due_on": "2001-01-01"})
    assert "cannot be in the past" in past.get_data(as_text=True)


def test_status_changes_are_told_to_the_school_admins(approved, county):
    before = db.session.scalar(sa.select(sa.func.count()).select_from(Notification))
    ledger.report_progress(approved.measures[0], "in_progress", "", [], county.users["a1.admin"])
    ledger.report_progress(approved.measures[0], "in_progress", "more", [],
                           county.users["a1.admin"])
    after = db.session.scalar(sa.select(sa.func.count()).select_from(Notification))
    assert after == before + 1


def test_the_window_shows_measures_without_the_complainant(approved, visitor):
    page = visitor.get("/s/a1/plans/").get_data(as_text=True)
    assert "Publish every fee" in page
    assert "Not started" in page
    assert "Raised in 1 opinion" in page
    assert "Zhang Wei" not in page
    assert "13800000000" not in page
    assert "Book fee without receipt" not in page


def test_a_draft_is_not_in_the_window(drafted, visitor):
    page = visitor.get("/s/a1/plans/").get_data(as_text=True)
    assert "Publish every fee" not in page


def test_lists_due_overdue_and_recent(approved, county):
    today = local_date(county.a)
    late = approved.measures[2]
    late.deadline = today - timedelta(days=1)
    db.session.flush()
    assert [m.id for m in ledger.items(today, "overdue")] == [late.id]
    assert late.id not in [m.id for m in ledger.items(today, "due")]
    assert len(ledger.items(today, "recent")) == 3


def test_the_summary_in_the_reports_words(approved, county, campaign):
    admin = county.users["a1.admin"]
    ledger.report_progress(approved.measures[0], "basically_done", "", [], admin)
    ledger.report_progress(approved.measures[1], "basically_done", "", [], admin)
    ledger.report_progress(approved.measures[2], "in_progress", "", [], admin)
    tally = metrics.tallies(campaign, [county.a1.id], local_date(county.a))[county.a1.id]
    with force_locale("en"):
        assert metrics.sentence(tally) == "3 items: 2 basically done, 1 in progress"
    with force_locale("zh_Hans"):
        assert metrics.sentence(tally) == "3 项：基本完成 2 项，正在推进 1 项"


def test_the_umbrella_view_and_the_printable_summary(approved, client, as_user):
    as_user("a.supervisor")
    umbrella = client.get("/b/county-a/").get_data(as_text=True)
    assert "3 items: 3 not started" in umbrella
    summary = client.get("/b/county-a/plans/summary").get_data(as_text=True)
    assert "3 items: 3 not started" in summary
    assert "Plans not yet approved:" in summary
    assert "a2学校 (Draft)" in summary
