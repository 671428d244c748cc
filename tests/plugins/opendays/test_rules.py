"""The calendar's rules, without a request: schedule, seats, waitlist, check-in, feedback."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from blueprints.opendays import services
from blueprints.opendays.models import CONFIRMED, WAITLISTED, WITHDRAWN, OpenDay, Registration
from kaimen.audit import AuditEvent
from kaimen.extensions import db
from kaimen.forms import is_mainland_phone as is_valid
from kaimen.forms import is_mobile_phone as is_mobile
from kaimen.notify import Notification
from kaimen.timeutil import utcnow

from .conftest import applicant, event_values

pytestmark = pytest.mark.usefixtures("in_english")


def rows(model):
    return db.session.scalar(sa.select(sa.func.count()).select_from(model))


def outbox():
    return list(db.session.scalars(sa.select(Notification).order_by(Notification.id)))


@pytest.mark.parametrize(("change", "message"), [
    ({"ends_at": -1}, "must end after it starts"),
    ({"registration_closes_at": +1}, "Registration must close before the event starts"),
    ({"registration_opens_at": -2, "registration_closes_at": -3}, "must open before it closes"),
    ({"capacity": 0}, "at least one person"),
    ({"kind": "party"}, "kind of event"),
])
def test_a_bad_schedule_is_refused_with_a_message_and_stores_nothing(county, change, message):
    values = event_values()
    for name, value in change.items():
        values[name] = (values["starts_at"] + timedelta(hours=value)
                        if name.endswith("_at") else value)
    with pytest.raises(services.OpenDayError, match=message):
        services.create_event(county.a1, values, county.users["a1.admin"])
    assert rows(OpenDay) == 0


def test_seats_fill_then_registrations_wait(county, schedule):
    event = schedule(capacity=3)
    first, _ = services.register(event, applicant("A", 2))
    second, _ = services.register(event, applicant("B", 1))
    third, code = services.register(event, applicant("C", 1))
    db.session.commit()
    assert [first.status, second.status, third.status] == [CONFIRMED, CONFIRMED, WAITLISTED]
    assert services.seats_taken(event) == 3
    assert services.seats_left(event) == 0
    assert services.by_code(county.a1, code) == third
    assert services.by_code(county.a2, code) is None  # a code leads only within its school


def test_a_cancellation_promotes_the_first_waiting_registration_that_fits(county, schedule):
    event = schedule(capacity=3)
    holder, _ = services.register(event, applicant("Holder", 2))
    services.register(event, applicant("Single", 1))
    too_big, _ = services.register(event, applicant("Pair", 2, email="pair@example.org"))
    fits, _ = services.register(event, applicant("Late single", 1, email="late@example.org"))
    db.session.commit()
    assert (too_big.status, fits.status) == (WAITLISTED, WAITLISTED)

    promoted = services.withdraw(holder)
    db.session.commit()
    # Two seats came free: the pair waiting first fits, so it goes first; then none are left.
    assert promoted == [too_big]
    assert (holder.status, too_big.status, fits.status) == (WITHDRAWN, CONFIRMED, WAITLISTED)
    assert services.seats_taken(event) == 3
    messages = outbox()
    assert {(m.channel, m.recipient) for m in messages} == {
        ("sms", "13807150001"), ("email", "pair@example.org")}
    assert all("Open classroom day" in m.body for m in messages)
    actions = set(db.session.scalars(sa.select(AuditEvent.action)))
    assert {"opendays.registered", "opendays.withdrawn", "opendays.promoted"} <= actions


def test_a_smaller_waiting_registration_is_promoted_past_one_that_does_not_fit(county, schedule):
    event = schedule(capacity=3)
    single, _ = services.register(event, applicant("Single", 1))
    services.register(event, applicant("Pair", 2))
    waiting_pair, _ = services.register(event, applicant("Second pair", 2))
    waiting_single, _ = services.register(event, applicant("Waiting single", 1))
    db.session.commit()
    assert services.withdraw(single) == [waiting_single]
    assert waiting_pair.status == WAITLISTED


@pytest.mark.parametrize(("change", "message"), [
    ({"status": "cancelled"}, "cancelled"),
    ({"starts_at": -1}, "already started or is over"),
    ({"registration_closes_at": -1}, "has closed"),
    ({"registration_opens_at": +1}, "not opened yet"),
])
def test_no_registration_for_a_past_cancelled_or_closed_event(county, schedule, change, message):
    event = schedule()
    now = utcnow()
    for name, value in change.items():
        setattr(event, name, now + timedelta(days=value) if name.endswith("_at") else value)
    if event.starts_at < now:
        event.ends_at = now - timedelta(hours=1)
        event.starts_at = now - timedelta(hours=2)
    db.session.commit()
    with pytest.raises(services.OpenDayError, match=message):
        services.register(event, applicant())
    db.session.rollback()
    assert rows(Registration) == 0


def test_too_many_attendees_are_refused(county, schedule):
    event = schedule(capacity=10, max_attendees=2)
    with pytest.raises(services.OpenDayError, match="between 1 and 2"):
        services.register(event, applicant(attendees=3))
    with pytest.raises(services.OpenDayError, match="between 1 and 2"):
        services.register(event, applicant(attendees=0))


def test_cancelling_an_event_tells_everyone_registered_and_waiting(county, schedule):
    event = schedule(capacity=1)
    services.register(event, applicant("A", phone="13900000001"))
    services.register(event, applicant("B", phone="13900000002"))
    services.register(event, applicant("Landline", phone="0715-6312345", email="c@example.org"))
    db.session.commit()
    with pytest.raises(services.OpenDayError, match="Say why"):
        services.cancel_event(event, "  ", county.users["a1.admin"])
    services.cancel_event(event, "The hall is flooded.", county.users["a1.admin"])
    db.session.commit()
    assert event.is_cancelled
    assert event.sequence == 1
    recipients = [m.recipient for m in outbox()]
    # A landline gets no text message; its e-mail address does get the notice.
    assert sorted(recipients) == ["13900000001", "13900000002", "c@example.org"]
    assert all("The hall is flooded." in m.body for m in outbox())


def test_moving_an_event_tells_everyone_and_a_new_description_does_not(county, schedule):
    event = schedule()
    services.register(event, applicant())
    db.session.commit()
    admin = county.users["a1.admin"]
    values = {f: getattr(event, f) for f in services.EVENT_FIELDS} | {"description": "New text."}
    assert services.update_event(event, values, admin) == ["description"]
    assert outbox() == []
    later = event.starts_at + timedelta(days=1)
    changed = services.update_event(
        event, values | {"starts_at": later, "ends_at": later + timedelta(hours=2)}, admin)
    db.session.commit()
    assert changed == ["starts_at", "ends_at"]
    assert len(outbox()) == 1
    assert event.sequence == 2


def test_capacity_cannot_drop_below_the_seats_taken_and_raising_it_promotes(county, schedule):
    event = schedule(capacity=2)
    services.register(event, applicant("A", 2))
    waiting, _ = services.register(event, applicant("B", 1))
    db.session.commit()
    values = {f: getattr(event, f) for f in services.EVENT_FIELDS}
    admin = county.users["a1.admin"]
    with pytest.raises(services.OpenDayError, match="2 seats are already taken"):
        services.update_event(event, values | {"capacity": 1}, admin)
    db.session.rollback()
    services.update_event(event, values | {"capacity": 3}, admin)
    db.session.commit()
    assert waiting.status == CONFIRMED


def test_check_in_only_once_and_only_with_a_seat(county, schedule):
    event = schedule(capacity=1)
    seated, _ = services.register(event, applicant("A"))
    waiting, _ = services.register(event, applicant("B"))
    admin = county.users["a1.admin"]
    services.check_in(seated, admin)
    assert seated.checked_in_at is not None
    with pytest.raises(services.OpenDayError, match="already checked in"):
        services.check_in(seated, admin)
    with pytest.raises(services.OpenDayError, match="Only a confirmed"):
        services.check_in(waiting, admin)


def test_feedback_after_the_event_once_per_confirmed_registration(county, schedule):
    event = schedule()
    registration, _ = services.register(event, applicant())
    with pytest.raises(services.OpenDayError, match="when the event is over"):
        services.leave_feedback(registration, 5, "")
    event.starts_at, event.ends_at = utcnow() - timedelta(hours=3), utcnow() - timedelta(hours=1)
    with pytest.raises(services.OpenDayError, match="from 1 to 5"):
        services.leave_feedback(registration, 6, "")
    services.leave_feedback(registration, 4, " Useful. ")
    db.session.flush()
    assert registration.feedback.comment == "Useful."
    with pytest.raises(services.OpenDayError, match="already recorded"):
        services.leave_feedback(registration, 5, "")


@pytest.mark.parametrize(("phone", "valid", "mobile"), [
    ("13812345678", True, True), ("138 1234 5678", True, True), ("+8613812345678", True, True),
    ("0715-6312345", True, False), ("027-87654321", True, False), ("07156312345", True, False),
    ("12812345678", False, False), ("1381234567", False, False), ("6312345", False, False),
    ("abc", False, False), ("", False, False),
])
def test_mainland_mobile_and_landline_numbers(phone, valid, mobile):
    assert is_valid(phone) is valid
    assert is_mobile(phone) is mobile
