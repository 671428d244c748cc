"""Fixtures of the plans tests: English pages, a campaign in county A, plans at each step."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from types import SimpleNamespace
from typing import Any

import pytest
import sqlalchemy as sa
from flask_babel import force_locale

from blueprints.complaints import services as complaint_services
from blueprints.plans import ledger, services
from blueprints.plans.models import Plan
from kaimen.extensions import db
from kaimen.timeutil import local_date
from kaimen.uploads import Upload

PDF = b"%PDF-1.4\n% evidence\n%%EOF\n"


def english(client: Any) -> Any:
    """Ask for English pages, so assertions do not depend on the catalogue."""
    client.set_cookie("kaimen_locale", "en")
    return client


@pytest.fixture(autouse=True)
def english_messages(ctx: Any) -> Iterator[None]:
    """Speak English in the test's own context, so refusals can be matched."""
    with force_locale("en"):
        yield


@pytest.fixture
def client(app: Any) -> Any:
    return english(app.test_client())


@pytest.fixture
def visitor(app: Any) -> Any:
    """A parent with no account, on a client of their own."""
    return english(app.test_client())


def plan_of(school: Any) -> Plan:
    return db.session.scalar(sa.select(Plan).where(Plan.school_id == school.id))


@pytest.fixture
def campaign(county: Any) -> Any:
    """County A's campaign, in its rectify stage today; every school has a draft plan."""
    for name in ("a1.admin", "a.supervisor", "a.leader"):
        county.users[name].email = f"{name}@example.org"
    today = local_date(county.a)
    opened = services.open_campaign(
        county.a, "2026 evaluation", today - timedelta(days=30),
        {"mobilise": today - timedelta(days=20), "inspect": today - timedelta(days=1),
         "rectify": today + timedelta(days=60), "review": today + timedelta(days=90)},
        county.users["a.admin"])
    db.session.commit()
    return opened


def file_case(school: Any, subject: str, **contact: Any) -> int:
    """File an opinion in ``school``'s box and return its id."""
    submission = complaint_services.Submission(
        kind="complaint", category="arbitrary_fees", subject=subject,
        description=f"{subject}: details.", **contact)
    case, _code = complaint_services.file_case(school, submission)
    db.session.flush()
    return case.id


def draft(plan: Plan, admin: Any, cases: list[int] | None = None) -> SimpleNamespace:
    """Give ``plan`` two problems with three complete measures."""
    deadline = plan.campaign.rectify_until
    fees = services.add_problem(plan, admin, category="fees", description="Fees not disclosed",
                                cases=cases or [])
    safety = services.add_problem(plan, admin, category="safety",
                                  description="Traffic at the gate")
    measures = [
        services.add_measure(fees, admin, action="Publish every fee", target="No hidden fees",
                             responsible_person="Principal", responsible_unit="Office",
                             deadline=deadline),
        services.add_measure(fees, admin, action="Refund the book fee", target="All refunded",
                             responsible_person="Bursar", responsible_unit="Office",
                             deadline=deadline),
        services.add_measure(safety, admin, action="Staff the gate", target="",
                             responsible_person="Deputy", responsible_unit="Safety office",
                             deadline=deadline),
    ]
    return SimpleNamespace(plan=plan, problems=[fees, safety], measures=measures)


@pytest.fixture
def drafted(campaign: Any, county: Any) -> SimpleNamespace:
    """a1's plan, drafted and complete, with one opinion of its box linked."""
    case = file_case(county.a1, "Book fee without receipt", anonymous=False,
                     contact_name="Zhang Wei", contact_phone="13800000000")
    made = draft(plan_of(county.a1), county.users["a1.admin"], cases=[case])
    made.case = case
    db.session.commit()
    return made


@pytest.fixture
def approved(drafted: SimpleNamespace, county: Any) -> SimpleNamespace:
    """a1's plan, submitted and approved: its measures are ledger items."""
    services.submit(drafted.plan, county.users["a1.admin"])
    services.approve(drafted.plan, "", county.users["a.supervisor"])
    db.session.commit()
    return drafted


def done_with_evidence(measure: Any, admin: Any) -> None:
    """Mark an item done with a PDF as evidence."""
    ledger.report_progress(measure, "done", "Finished.",
                           [Upload("proof.pdf", "application/pdf", PDF)], admin)
