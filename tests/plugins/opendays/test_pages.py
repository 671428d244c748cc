"""The calendar's pages: a parent registers, retries, follows up; staff manage and check in."""

from __future__ import annotations

import io
import re
from datetime import date, timedelta

import sqlalchemy as sa
from conftest import login
from openpyxl import load_workbook

from blueprints.opendays import services
from blueprints.opendays.models import CONFIRMED, WITHDRAWN, OpenDay, Registration
from kaimen.extensions import db
from kaimen.plugins import state
from kaimen.timeutil import local_date, utcnow

from .conftest import applicant

CODE = re.compile(r'class="od-code">([0-9A-Z-]+)<')
TOKEN = "t" * 32


def form(**values):
    return {"name": "Li Lei", "phone": "13912345678", "child_class": "3-1", "attendees": "1",
            "token": TOKEN} | values


def registrations():
    return list(db.session.scalars(sa.select(Registration).order_by(Registration.id)))


def test_the_calendar_lists_coming_events_and_places_them_in_the_month(client, schedule):
    event = schedule(title="Science open day")
    schedule(title="Cancelled one").status = "cancelled"
    db.session.commit()
    month = event.starts_at.strftime("%Y-%m")
    page = client.get(f"/s/a1/opendays/?month={month}")
    assert page.status_code == 200
    coming, month_grid = page.get_data(as_text=True).split('class="od-month"')
    assert "Science open day" in coming
    assert "Cancelled one" not in coming
    assert 'title="Science open day"' in month_grid
    assert re.search(r'class="od-dot od-cancelled"[^>]*title="Cancelled one"', month_grid)
    assert client.get("/s/a1/opendays/?month=junk").status_code == 200


def test_the_school_page_shows_the_next_events(client, schedule):
    schedule(title="Science open day")
    html = client.get("/s/a1/").get_data(as_text=True)
    assert "Open days" in html
    assert "Science open day" in html


def test_a_parent_registers_and_a_double_submit_gives_the_same_code(visitor, schedule):
    event = schedule()
    first = visitor.post(f"/s/a1/opendays/{event.id}", data=form())
    again = visitor.post(f"/s/a1/opendays/{event.id}", data=form())
    assert first.status_code == again.status_code == 200
    assert first.headers["Cache-Control"] == "no-store"
    code = CODE.search(first.get_data(as_text=True))[1]
    assert CODE.search(again.get_data(as_text=True))[1] == code
    assert len(registrations()) == 1
    assert "Your place is confirmed" in first.get_data(as_text=True)


def test_bad_input_keeps_what_was_typed_and_stores_nothing(visitor, schedule):
    event = schedule(max_attendees=2)
    page = visitor.post(f"/s/a1/opendays/{event.id}",
                        data=form(phone="12345", name="Zhang San", child_class="5-1"))
    html = page.get_data(as_text=True)
    assert page.status_code == 400
    assert "Enter a mobile number of 11 digits" in html
    assert 'value="Zhang San"' in html
    assert 'value="5-1"' in html
    too_many = visitor.post(f"/s/a1/opendays/{event.id}", data=form(attendees="3"))
    assert too_many.status_code == 409
    assert "Register between 1 and 2 attendees." in too_many.get_data(as_text=True)
    assert 'value="Li Lei"' in too_many.get_data(as_text=True)
    assert registrations() == []


def test_a_cancelled_event_takes_no_registration(visitor, schedule):
    event = schedule()
    services.cancel_event(event, "Storm warning.", None)
    db.session.commit()
    page = visitor.get(f"/s/a1/opendays/{event.id}")
    assert "registration is closed" in page.get_data(as_text=True)
    posted = visitor.post(f"/s/a1/opendays/{event.id}", data=form())
    assert posted.status_code == 409
    assert registrations() == []


def test_the_full_event_waitlists_and_track_cancels_and_promotes(visitor, app, schedule):
    event = schedule(capacity=1, max_attendees=1)
    first = visitor.post(f"/s/a1/opendays/{event.id}", data=form())
    code = CODE.search(first.get_data(as_text=True))[1]
    second = app.test_client()
    second.set_cookie("kaimen_locale", "en")
    waiting = second.post(f"/s/a1/opendays/{event.id}",
                          data=form(name="Han Meimei", token="w" * 32, email="han@example.org"))
    assert "you are on the waitlist" in waiting.get_data(as_text=True)

    tracked = visitor.post("/track", data={"code": code})
    assert tracked.status_code == 200
    assert "Confirmed" in tracked.get_data(as_text=True)
    cancelled = visitor.post("/s/a1/opendays/track", data={"code": code, "action": "cancel"})
    assert cancelled.status_code == 200
    assert "Your registration is cancelled" in cancelled.get_data(as_text=True)
    assert [r.status for r in registrations()] == [WITHDRAWN, CONFIRMED]
    wrong = visitor.post("/s/a2/opendays/track", data={"code": code, "action": "cancel"})
    assert wrong.status_code == 404


def test_feedback_through_track_after_the_event(visitor, schedule):
    event = schedule()
    registration, code = services.register(event, applicant())
    event.starts_at, event.ends_at = utcnow() - timedelta(hours=3), utcnow() - timedelta(hours=1)
    db.session.commit()
    page = visitor.post("/track", data={"code": code})
    assert "How was it?" in page.get_data(as_text=True)
    sent = visitor.post("/s/a1/opendays/track",
                        data={"code": code, "action": "feedback", "satisfaction": "4"})
    assert "Thank you for your feedback." in sent.get_data(as_text=True)
    db.session.expire_all()
    assert registration.feedback.satisfaction == 4


def test_staff_schedule_an_event_in_local_time_and_bad_times_are_refused(client, county):
    login(client, "a1.admin")
    values = {"kind": "open_week", "title": "Open week", "place": "Classrooms",
              "starts_at": "2030-03-04T08:00", "ends_at": "2030-03-08T12:00",
              "capacity": "100", "max_attendees": "2",
              "registration_closes_at": "2030-03-05T08:00"}
    refused = client.post("/s/a1/opendays/new", data=values)
    assert refused.status_code == 400
    assert "Registration must close before the event starts." in refused.get_data(as_text=True)
    backwards = client.post("/s/a1/opendays/new", data=values | {
        "ends_at": "2030-03-03T12:00", "registration_closes_at": ""})
    assert "The event must end after it starts." in backwards.get_data(as_text=True)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(OpenDay)) == 0
    created = client.post("/s/a1/opendays/new", data=values | {
        "registration_closes_at": "2030-03-03T18:00"})
    assert created.status_code == 302
    event = db.session.scalar(sa.select(OpenDay))
    # Typed in Asia/Shanghai (UTC+8), stored in UTC.
    assert event.starts_at.isoformat() == "2030-03-04T00:00:00"
    assert event.grade_list == []  # no class list yet: for everyone (grades: the test below)
    edit = client.get(f"/s/a1/opendays/{event.id}/edit").get_data(as_text=True)
    assert 'value="2030-03-04T08:00"' in edit


def test_staff_export_the_list_and_check_in_by_code_and_from_the_list(client, county, schedule):
    event = schedule(capacity=2, max_attendees=1)
    seated, code = services.register(event, applicant("Wang Li"))
    other, _ = services.register(event, applicant("=cmd|' /C calc'!A0"))
    waiting, _ = services.register(event, applicant("Late"))
    db.session.commit()
    login(client, "a1.teacher")
    listing = client.get(f"/s/a1/opendays/{event.id}/registrations")
    assert listing.status_code == 200
    xlsx = client.get(f"/s/a1/opendays/{event.id}/registrations?format=xlsx")
    sheet = load_workbook(io.BytesIO(xlsx.data)).active
    names = [row[1].value for row in sheet.iter_rows(min_row=2)]
    assert names == ["Wang Li", "'=cmd|' /C calc'!A0", "Late"]
    csv = client.get(f"/s/a1/opendays/{event.id}/registrations?format=csv")
    assert "On the waitlist" in csv.data.decode("utf-8-sig")

    checked = client.post(f"/s/a1/opendays/{event.id}/check-in",
                          data={"code": code.lower().replace("-", " ")})
    assert checked.status_code == 302
    db.session.expire_all()
    assert seated.checked_in_at is not None
    twice = client.post(f"/s/a1/opendays/{event.id}/check-in", data={"code": code})
    assert twice.status_code == 409
    assert "already checked in" in twice.get_data(as_text=True)
    client.post(f"/s/a1/opendays/registrations/{other.id}/check-in")
    refused = client.post(f"/s/a1/opendays/registrations/{waiting.id}/check-in",
                          follow_redirects=True)
    assert "Only a confirmed registration can be checked in." in refused.get_data(as_text=True)
    figures = client.get(f"/s/a1/opendays/{event.id}/check-in").get_data(as_text=True)
    assert "100%" in figures
    db.session.expire_all()
    assert (other.checked_in_at is not None, waiting.checked_in_at) == (True, None)


def test_teachers_check_in_but_do_not_schedule(client, schedule):
    event = schedule()
    login(client, "a1.teacher")
    assert client.get("/s/a1/opendays/new").status_code == 403
    assert client.get(f"/s/a1/opendays/{event.id}/edit").status_code == 403
    assert client.get(f"/s/a1/opendays/{event.id}/check-in").status_code == 200


def test_the_bureau_figures_cover_this_school_year_in_one_query_each(county, schedule, in_english):
    held = schedule(capacity=10)
    seated, _ = services.register(held, applicant("A", 2))
    services.register(held, applicant("B", 1))
    services.check_in(seated, None)
    held.starts_at, held.ends_at = utcnow() - timedelta(hours=3), utcnow() - timedelta(hours=1)
    services.leave_feedback(seated, 4, "")
    schedule(school=county.a2)  # coming: not held yet
    db.session.commit()
    plugin = state().plugins["opendays"]
    queries = []

    def count(_conn, _cursor, statement, *_args):
        if statement.startswith("SELECT"):  # not the test transaction's SAVEPOINT
            queries.append(statement)

    engine = db.session.get_bind()
    sa.event.listen(engine, "before_cursor_execute", count)
    try:
        table = plugin.kaimen_bureau_metrics(bureau=county.a, schools=[county.a1, county.a2])
    finally:
        sa.event.remove(engine, "before_cursor_execute", count)
    assert "school year" in str(table.columns[0])
    assert table.rows[county.a1.id] == [1, 2, "67%", "4.0"]
    assert table.rows[county.a2.id] == [0, 0, "–", "–"]
    assert table.total == [1, 2, "67%", "4.0"]
    # the period (this term), then one per figure: events, registrations, seats, present,
    # satisfaction
    assert len(queries) == 6, queries


def _this_years_classes(county):
    """Give county A the school year of today with two first-grade classes in a1."""
    from kaimen.classes import services as classes
    from kaimen.classes.models import SchoolYear

    today = local_date(county.a)
    start = today.year if today.month >= 9 else today.year - 1
    year = SchoolYear(bureau_id=county.a.id, name=f"{start}-{start + 1}",
                      starts_on=date(start, 9, 1), ends_on=date(start + 1, 8, 31))
    db.session.add(year)
    db.session.flush()
    for name in ("1班", "2班"):
        classes.save_class(county.a1, None, year=year, grade=1, name=name, class_teacher=None)
    db.session.commit()


def test_staff_address_an_event_to_grades_and_classes_of_the_class_list(client, county):
    _this_years_classes(county)
    login(client, "a1.admin")
    form = client.get("/s/a1/opendays/new").get_data(as_text=True)
    for label in ("一年级", "一年级1班", "一年级2班"):
        assert f'value="{label}"' in form
    values = {"kind": "open_day", "title": "Grade one day", "place": "Hall",
              "starts_at": "2030-03-04T08:00", "ends_at": "2030-03-04T12:00",
              "capacity": "40", "max_attendees": "2"}
    refused = client.post("/s/a1/opendays/new", data=values | {"grades": ["三年级"]})
    assert refused.status_code == 400
    assert db.session.scalar(sa.select(sa.func.count()).select_from(OpenDay)) == 0
    created = client.post("/s/a1/opendays/new", data=values | {"grades": ["一年级", "一年级2班"]})
    assert created.status_code == 302
    event = db.session.scalar(sa.select(OpenDay))
    assert event.grade_list == ["一年级", "一年级2班"]
    edit = client.get(f"/s/a1/opendays/{event.id}/edit").get_data(as_text=True)
    assert re.search(r'checked[^>]*value="一年级2班"|value="一年级2班"[^>]*checked', edit)


def test_without_classes_the_event_is_for_everyone(client, county):
    login(client, "a1.admin")
    form = client.get("/s/a1/opendays/new", headers={"Accept-Language": "en"})
    assert "The school has no classes for this school year yet" in form.get_data(as_text=True)


def test_the_bureau_figures_cover_this_term_when_the_bureau_keeps_terms(county, in_english):
    from kaimen.classes.models import Term

    _this_years_classes(county)
    from kaimen.classes.models import SchoolYear

    year = db.session.scalar(sa.select(SchoolYear).where(SchoolYear.bureau_id == county.a.id))
    today = local_date(county.a)
    db.session.add(Term(bureau_id=county.a.id, school_year_id=year.id, number=1,
                        starts_on=today - timedelta(days=30), ends_on=today + timedelta(days=30)))
    db.session.commit()
    table = state().plugins["opendays"].kaimen_bureau_metrics(bureau=county.a, schools=[county.a1])
    assert str(table.columns[0]) == f"Events held, {year.name} First term"
