"""Fixtures of the pledge board tests: English pages and a published board in a1 and a2."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from blueprints.pledges import services
from blueprints.pledges.models import ETHICS, SERVICE
from kaimen.extensions import db


def english(client: Any) -> Any:
    """Ask for English pages, so assertions do not depend on the catalogue."""
    client.set_cookie("kaimen_locale", "en")
    return client


@pytest.fixture
def client(app: Any) -> Any:
    return english(app.test_client())


@pytest.fixture
def visitor(app: Any) -> Any:
    """A parent with no account, on a client of their own."""
    return english(app.test_client())


def publish(school: Any, actor: Any, title: str, kind: str = SERVICE, **content: Any) -> Any:
    values = {"text": f"{title}: the text.", "answerable": "Principal",
              "school_year": services.current_school_year()} | content
    return services.publish_school_pledge(school, kind, actor, title=title, **values)


@pytest.fixture(name="publish")
def publish_fixture(ctx: Any) -> Any:
    """Publish a school pledge as the given admin (in the caller's transaction)."""
    return publish


@pytest.fixture
def board(county: Any) -> SimpleNamespace:
    """Pledges of a1 (a service and an ethics pledge) and one of a2."""
    admin = county.users["a1.admin"]
    fees = publish(county.a1, admin, "No arbitrary fees")
    ethics = publish(county.a1, admin, "Teacher ethics", kind=ETHICS)
    other = publish(county.a2, county.users["a2.admin"], "A2 pledge")
    db.session.commit()
    return SimpleNamespace(fees=fees.id, ethics=ethics.id, other=other.id, county=county)
