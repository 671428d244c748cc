"""The bureau's own pledges, the metrics hook, and the list of schools without a board."""

import pytest
import sqlalchemy as sa
from flask_babel import force_locale
from sqlalchemy import event

from blueprints.pledges import metrics, services
from blueprints.pledges.models import BureauPledge
from kaimen import tenancy
from kaimen.extensions import db


def _form(**extra):
    return {"unit": "", "title": "Answer letters in five days", "text": "Every letter answered.",
            "answerable": "Bureau office", "school_year": "2026-2027"} | extra


def _bureau_pledges():
    with tenancy.system_scope():
        return db.session.scalars(sa.select(BureauPledge).execution_options(
            populate_existing=True)).all()


def test_bureau_admin_publishes_and_edits_a_public_bureau_pledge(county, as_user, visitor):
    client = as_user("a.admin")
    assert client.post("/b/county-a/pledges/new", data=_form(unit=str(county.unit.id))
                       ).status_code == 302
    (pledge,) = _bureau_pledges()
    assert (pledge.bureau_id, pledge.unit_id) == (county.a.id, county.unit.id)
    board = visitor.get("/b/county-a/pledges/")
    assert board.status_code == 200
    assert "Answer letters in five days" in board.text
    assert "Answer letters in five days" not in visitor.get("/b/county-b/pledges/").text
    client.post(f"/b/county-a/pledges/{pledge.id}/edit", data=_form(text="Answered in 3 days."))
    page = visitor.get(f"/b/county-a/pledges/{pledge.id}").text
    assert "Changed on" in page
    history = visitor.get(f"/b/county-a/pledges/{pledge.id}/history").text
    assert "Every letter answered." in history
    assert "Answered in 3 days." in history


def test_bureau_pledge_bad_input_and_withdrawal(county, as_user):
    client = as_user("a.supervisor")
    response = client.post("/b/county-a/pledges/new", data=_form(text=""))
    assert "Write what you pledge." in response.text
    assert _bureau_pledges() == []
    client.post("/b/county-a/pledges/new", data=_form())
    (pledge,) = _bureau_pledges()
    refused = client.post(f"/b/county-a/pledges/{pledge.id}/status", data={"status": "withdrawn"})
    assert "Give the public reason" in refused.text
    assert _bureau_pledges()[0].status == "active"


@pytest.mark.parametrize("path", ["", "/history", "/edit"])
def test_a_pledge_of_another_bureau_answers_404(county, as_user, path):
    with tenancy.system_scope():
        other = services.publish_bureau_pledge(county.b, None, None, title="B", text="B text",
                                               answerable="B", school_year="2026-2027")
        db.session.commit()
    client = as_user("a.admin")
    assert client.get(f"/b/county-a/pledges/{other.id}{path}").status_code == 404
    assert client.post(f"/b/county-a/pledges/{other.id}/status",
                       data={"status": "withdrawn", "reason": "x"}).status_code == 404
    assert _bureau_pledges()[0].status == "active"


def test_only_the_bureaus_own_managers_manage_its_pledges(county, as_user):
    assert as_user("b.supervisor").get("/b/county-a/pledges/manage").status_code == 404
    assert as_user("a.leader").get("/b/county-a/pledges/manage").status_code == 403
    assert as_user("a.admin").get("/b/county-a/pledges/manage").status_code == 200


def test_the_bureau_sees_which_schools_have_no_board(board, as_user):
    page = as_user("a.supervisor").get("/b/county-a/pledges/schools")
    assert page.status_code == 200
    assert "Every school has published its board for this school year." in page.text
    assert "2 of 2 schools have published a pledge board" in page.text


def test_schools_without_a_board_this_year_are_listed(county, as_user, publish):
    publish(county.a1, county.users["a1.admin"], "Old pledge", school_year="2019-2020")
    db.session.commit()
    page = as_user("a.admin").get("/b/county-a/pledges/schools").text
    missing = page.split("Schools without a board")[1].split("</ul>")[0]
    assert "a1学校" in missing
    assert "a2学校" in missing


def _table(app, county, schools):
    with app.test_request_context("/b/county-a/"), force_locale("en"), tenancy.system_scope():
        return metrics.pledge_metrics(county.a, schools)


def test_metrics_per_school(board, app, as_user):
    as_user("a1.teacher").post(f"/s/a1/pledges/{board.ethics}/sign")
    county = board.county
    table = _table(app, county, [county.a1, county.a2])
    assert table.rows[county.a1.id] == [2, "Yes", "1 / 1"]
    assert table.rows[county.a2.id] == [1, "Yes", "0 / 0"]
    assert table.total == [3, "2 / 2", "1 / 1"]
    overview = as_user("a.admin").get("/b/county-a/")
    assert "Ethics pledge signed / teachers" in overview.text


def test_metrics_take_the_same_number_of_queries_for_any_number_of_schools(board, app, make):
    county = board.county
    more = [make.school(f"a{n}", county.a) for n in range(3, 9)]
    statements = []

    def count(*_args):
        statements.append(1)

    engine = db.session.get_bind()
    event.listen(engine, "before_cursor_execute", count)
    try:
        _table(app, county, [county.a1])
        few = len(statements)
        statements.clear()
        table = _table(app, county, [county.a1, county.a2, *more])
        many = len(statements)
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert few == many
    assert table.rows[more[0].id] == [0, "No", "0 / 0"]
