"""The bureau pushes a county-wide open week; each school fills in its details and publishes."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
import sqlalchemy as sa
from conftest import login

from blueprints.opendays import services
from blueprints.opendays.models import DRAFT, SCHEDULED, BureauEvent, OpenDay
from kaimen import tenancy
from kaimen.audit import AuditEvent
from kaimen.extensions import db
from kaimen.timeutil import utcnow

from .conftest import applicant

WEEK = {"kind": "open_week", "title": "County open week", "description": "Come and see.",
        "starts_at": "2030-04-08T08:00", "ends_at": "2030-04-12T12:00"}


def events():
    return list(db.session.scalars(tenancy.all_schools(sa.select(OpenDay).order_by(OpenDay.id))))


def test_the_bureau_pushes_to_chosen_schools_and_each_publishes_its_own(client, county, app):
    login(client, "a.supervisor")
    form = client.get("/b/county-a/opendays/push").get_data(as_text=True)
    checked = re.findall(r'<input checked id="schools-\d+" name="schools" type="checkbox" '
                         r'value="(\d+)"', form)
    assert checked == [str(county.a1.id), str(county.a2.id)]  # every school, by default
    refused = client.post("/b/county-a/opendays/push", data=WEEK | {"schools": []})
    assert "Choose at least one school." in refused.get_data(as_text=True)
    stranger = client.post("/b/county-a/opendays/push", data=WEEK | {"schools": [county.b1.id]})
    assert "Choose schools of this bureau only." in stranger.get_data(as_text=True)
    assert events() == []

    sent = client.post("/b/county-a/opendays/push", data=WEEK | {"schools": [county.a1.id]})
    assert sent.status_code == 302
    [draft] = events()
    assert (draft.school_id, draft.status, draft.place) == (county.a1.id, DRAFT, "")
    assert draft.starts_at.isoformat() == "2030-04-08T00:00:00"  # 08:00 in Asia/Shanghai
    assert db.session.scalar(sa.select(BureauEvent.title)) == "County open week"
    assert "opendays.pushed" in set(db.session.scalars(sa.select(AuditEvent.action)))
    listing = client.get("/b/county-a/opendays/").get_data(as_text=True)
    assert "0 of 1 schools have filled it in" in listing

    # Parents do not see the draft: no page, no registration, not in the feeds.
    parent = app.test_client()
    assert parent.get(f"/s/a1/opendays/{draft.id}").status_code == 404
    assert b"County open week" not in parent.get("/s/a1/opendays/calendar.ics").data
    assert b"County open week" not in parent.get("/b/county-a/opendays/calendar.ics").data

    # The school fills in its place and capacity and publishes it.
    school = app.test_client()
    school.set_cookie("kaimen_locale", "en")
    login(school, "a1.admin")
    assert "From the bureau" in school.get("/s/a1/opendays/manage").get_data(as_text=True)
    published = school.post(f"/s/a1/opendays/{draft.id}/edit", data={
        "kind": "open_week", "title": "County open week at A1", "place": "Every classroom",
        "starts_at": "2030-04-08T08:00", "ends_at": "2030-04-12T12:00", "capacity": "60",
        "max_attendees": "2", "feedback_enabled": "y"}, follow_redirects=True)
    assert "The event was published." in published.get_data(as_text=True)
    db.session.expire_all()
    [event] = events()
    assert (event.status, event.place, event.capacity) == (SCHEDULED, "Every classroom", 60)
    assert parent.get(f"/s/a1/opendays/{event.id}").status_code == 200
    assert "1 of 1 schools have filled it in" in client.get(
        "/b/county-a/opendays/").get_data(as_text=True)


def test_a_draft_takes_no_registration(county, in_english):
    schools = [county.a1, county.a2]
    starts = utcnow() + timedelta(days=20)
    services.push_event(county.a, {"kind": "open_week", "title": "Week", "starts_at": starts,
                                   "ends_at": starts + timedelta(days=4)},
                        schools, schools, None)
    db.session.flush()
    assert [e.school_id for e in events()] == [county.a1.id, county.a2.id]
    with pytest.raises(services.OpenDayError, match="not opened yet"):
        services.register(events()[0], applicant())


def test_supervisors_of_another_bureau_and_school_staff_cannot_push(client, county):
    login(client, "a1.admin")
    assert client.get("/b/county-a/opendays/push").status_code == 404
    other = client.application.test_client()
    login(other, "b.supervisor")
    assert other.post("/b/county-a/opendays/push",
                      data=WEEK | {"schools": [county.a1.id]}).status_code == 404
    assert events() == []
