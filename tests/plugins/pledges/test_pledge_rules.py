"""The rules of the pledge board, without a request: versions, withdrawals, signatures."""

from datetime import date

import pytest
import sqlalchemy as sa

from blueprints.pledges import demo, services
from blueprints.pledges.models import ETHICS, Pledge, PledgeSignature
from kaimen.audit import AuditEvent
from kaimen.extensions import db


@pytest.mark.parametrize(("day", "year"), [
    (date(2026, 9, 1), "2026-2027"),
    (date(2026, 12, 31), "2026-2027"),
    (date(2027, 1, 15), "2026-2027"),
    (date(2027, 8, 31), "2026-2027"),
    (date(2027, 9, 1), "2027-2028"),
])
def test_school_year_starts_in_september(day, year):
    assert services.school_year_of(day) == year


@pytest.mark.parametrize(("value", "ok"), [
    ("2026-2027", True), ("2026-2028", False), ("26-27", False), ("2026/2027", False), ("", False),
])
def test_school_year_format(value, ok):
    assert services.is_school_year(value) is ok


def _actions(pledge):
    return list(db.session.scalars(
        sa.select(AuditEvent.action).where(AuditEvent.object_type == "Pledge",
                                           AuditEvent.object_id == str(pledge.id))
        .order_by(AuditEvent.seq)
    ))


def test_an_edit_keeps_the_earlier_text_and_is_audited(county, publish):
    admin = county.users["a1.admin"]
    pledge = publish(county.a1, admin, "Open information", text="First text")
    db.session.flush()
    assert services.edit(pledge, admin, title=pledge.title, text="First text",
                         answerable=pledge.answerable, school_year=pledge.school_year) is False
    assert pledge.edited_at is None
    assert services.edit(pledge, admin, title=pledge.title, text="Second text",
                         answerable="Office", school_year=pledge.school_year) is True
    db.session.commit()
    assert [v.text for v in pledge.versions] == ["First text", "Second text"]
    assert [v.number for v in pledge.versions] == [1, 2]
    assert pledge.versions[1].editor_id == admin.id
    assert pledge.text == "Second text"
    assert pledge.edited_at is not None
    assert _actions(pledge) == ["pledge.published", "pledge.edited"]


def test_withdrawing_needs_a_public_reason(county, publish):
    admin = county.users["a1.admin"]
    pledge = publish(county.a1, admin, "Tutoring")
    with pytest.raises(services.PledgeError):
        services.set_status(pledge, "withdrawn", "   ", admin)
    assert pledge.status == "active"
    services.set_status(pledge, "withdrawn", "Merged into the fee pledge", admin)
    assert pledge.status == "withdrawn"
    assert pledge.status_reason == "Merged into the fee pledge"
    with pytest.raises(services.PledgeError):
        services.edit(pledge, admin, title="x", text="y", answerable="z",
                      school_year=pledge.school_year)
    with pytest.raises(services.PledgeError):
        services.set_status(pledge, "fulfilled", "", admin)


def test_fulfilled_needs_no_reason(county, publish):
    pledge = publish(county.a1, county.users["a1.admin"], "Canteen")
    services.set_status(pledge, "fulfilled", "", county.users["a1.admin"])
    assert pledge.status == "fulfilled"
    assert pledge.status_reason is None


def test_only_the_schools_own_teachers_sign_and_only_once(county, publish, make):
    ethics = publish(county.a1, county.users["a1.admin"], "Ethics", kind=ETHICS)
    service = publish(county.a1, county.users["a1.admin"], "Fees")
    other_teacher = make.user("a2.teacher", "teacher", county.a2)
    db.session.flush()
    for user in (county.users["a1.admin"], other_teacher, county.users["a.admin"]):
        with pytest.raises(services.PledgeError):
            services.sign(ethics, user)
    with pytest.raises(services.PledgeError):
        services.sign(service, county.users["a1.teacher"])
    services.sign(ethics, county.users["a1.teacher"])
    with pytest.raises(services.PledgeError):
        services.sign(ethics, county.users["a1.teacher"])
    db.session.commit()
    signatures = db.session.scalars(sa.select(PledgeSignature)).all()
    assert [(s.user_id, s.school_id) for s in signatures] == [
        (county.users["a1.teacher"].id, county.a1.id)
    ]
    assert "pledge.signed" in _actions(ethics)


def test_demo_data_builds_a_board_with_history_and_signatures_once(county):
    users = dict(county.users)
    demo.load(county.a, [county.a1, county.a2], users)
    db.session.commit()
    pledges = db.session.scalars(sa.select(Pledge).where(Pledge.school_id == county.a1.id)).all()
    titles = {p.title for p in pledges}
    assert {"不乱收费", "不违规补课", "不推销教辅资料", "公开办学信息"} <= titles
    assert any(len(p.versions) == 2 for p in pledges)
    ethics = next(p for p in pledges if p.kind == ETHICS)
    assert [s.user.username for s in ethics.signatures] == ["a1.teacher"]
    demo.load(county.a, [county.a1, county.a2], users)
    db.session.commit()
    again = db.session.scalars(sa.select(Pledge).where(Pledge.school_id == county.a1.id)).all()
    assert len(again) == len(pledges)
