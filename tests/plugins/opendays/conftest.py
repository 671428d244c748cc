"""Fixtures of the open-day calendar tests: English pages and an event factory."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from blueprints.opendays import services
from blueprints.opendays.models import OPEN_DAY
from kaimen.extensions import db
from kaimen.timeutil import utcnow


def english(client: Any) -> Any:
    """Ask for English pages, so assertions do not depend on the catalogue."""
    client.set_cookie("kaimen_locale", "en")
    return client


@pytest.fixture
def client(app: Any) -> Any:
    return english(app.test_client())


@pytest.fixture
def in_english(ctx: Any) -> Any:
    """A request context asking for English, for rules whose messages are read in tests."""
    with ctx.test_request_context(headers={"Cookie": "kaimen_locale=en"}):
        yield


@pytest.fixture
def visitor(app: Any) -> Any:
    """A parent with no account, on a client of their own."""
    return english(app.test_client())


def event_values(**overrides: Any) -> dict[str, Any]:
    """Return an open day in ten days, 08:30–11:30 UTC, with room for 4 people."""
    starts = (utcnow() + timedelta(days=10)).replace(hour=0, minute=30, second=0, microsecond=0)
    values = {"kind": OPEN_DAY, "title": "Open classroom day", "description": "Sit in a lesson.",
              "place": "Main hall", "grades": "Grade 1,Grade 2", "starts_at": starts,
              "ends_at": starts + timedelta(hours=3), "capacity": 4, "max_attendees": 2,
              "registration_opens_at": None, "registration_closes_at": None,
              "feedback_enabled": True}
    return values | overrides


@pytest.fixture
def schedule(county: Any) -> Any:
    """Schedule an event in a school (a1 by default) and commit it."""

    def make_event(school: Any = None, **overrides: Any) -> Any:
        school = school or county.a1
        event = services.create_event(school, event_values(**overrides),
                                      county.users[f"{school.slug}.admin"])
        db.session.commit()
        return event

    return make_event


def applicant(name: str = "Wang Li", attendees: int = 1, **values: Any) -> services.Applicant:
    return services.Applicant(name=name, phone=values.pop("phone", "13807150001"),
                              child_class=values.pop("child_class", "3-2"),
                              attendees=attendees, **values)
