"""The bureau's own pledges, the metrics hook, and the list of schools without a board."""

import pytest
import sqlalchemy as sa
from flask import current_app
from flask_babel import force_locale
from sqlalchemy import event

from blueprints.pledges import metrics, services
from blueprints.pledges.models import BureauPledge
from kaimen import memo, plugins, tenancy
from kaimen.auth.models import User
from kaimen.extensions import db

from .conftest import publish


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
        return metrics.bureau_table(county.a, schools)


def _report(school, reference, substantiated=False):
    """File a broken-pledge report with the complaint box, as a parent's link would."""
    from blueprints.complaints import services as box

    with current_app.test_request_context("/"), tenancy.system_scope():
        case, _code = box.file_case(school, box.Submission(
            kind="complaint", category="arbitrary_fees", subject="A pledge was broken",
            description="The school asked for a fee its pledge rules out.", reference=reference))
        if substantiated:
            admin = db.session.scalar(sa.select(User).where(User.username == "a1.admin"))
            box.accept(case, admin, admin)
            box.advance(case, "verifying", admin)
            box.record_findings(case, "substantiated", "A fee was asked.", "Refunded.",
                                "The fee was refunded.", admin)
        db.session.commit()


def test_metrics_per_school(board, app, as_user):
    as_user("a1.teacher").post(f"/s/a1/pledges/{board.ethics}/sign")
    county = board.county
    _report(county.a1, f"pledge:{board.fees}", substantiated=True)
    _report(county.a1, f"pledge:{board.fees}")
    _report(county.a1, "pledge-board:1")  # not about one pledge: not counted
    _report(county.b1, f"pledge:{board.fees}")  # another school's box: not counted
    table = _table(app, county, [county.a1, county.a2])
    assert table.rows[county.a1.id] == [2, "Yes", "1 / 1", "2 (1)"]
    assert table.rows[county.a2.id] == [1, "Yes", "0 / 0", "0 (0)"]
    assert table.total == [3, "2 / 2", "1 / 1", "2 (1)"]
    overview = as_user("a.admin").get("/b/county-a/")
    assert "Ethics pledge signed / teachers" in overview.text
    assert "Broken-pledge reports (substantiated)" in overview.text


def test_metrics_leave_out_reports_where_the_box_is_switched_off(board, app, ctx):
    county = board.county
    _report(county.a1, f"pledge:{board.fees}")
    plugins.set_enabled(county.a1, "complaints", False)
    db.session.commit()
    table = _table(app, county, [county.a1, county.a2])
    assert table.rows[county.a1.id][-1] == "0 (0)"


def test_metrics_take_the_same_number_of_queries_for_any_number_of_schools(
    board, app, make, ctx, monkeypatch
):
    county = board.county
    more = [make.school(f"a{n}", county.a) for n in range(3, 9)]
    for school in more[:3]:
        publish(school, None, f"{school.slug} pledge")
    db.session.commit()
    # An answering plugin (the complaint box) is asked once for all the schools, so
    # the statements run inside the hook are counted apart from the pledge board's
    # own, and both must stay fixed however many schools there are.
    inside, asked = [False], []
    for impl in plugins.state().manager.hook.kaimen_report_counts.get_hookimpls():
        def counting(schools, references, _function=impl.function):
            asked.append(sorted(s.slug for s in schools))
            inside[0] = True
            try:
                return _function(schools=schools, references=references)
            finally:
                inside[0] = False

        monkeypatch.setattr(impl, "function", counting)
    own, in_hook = [], []

    def count(_conn, _cursor, statement, *_rest):
        (in_hook if inside[0] else own).append(statement)

    def measure(schools):
        """Return the table, the pledge board's own statements, and whom the hook was asked."""
        own.clear()
        in_hook.clear()
        asked.clear()
        memo.forget()  # the teachers counted for the call before would be kept
        table = _table(app, county, schools)
        return table, (len(own), len(in_hook)), list(asked)

    everyone = [county.a1, county.a2, *more]
    _table(app, county, everyone)  # load what the commit expired, before counting
    engine = db.session.get_bind()
    event.listen(engine, "before_cursor_execute", count)
    try:
        _table_one, few, asked_few = measure([county.a1])
        table, many, asked_many = measure(everyone)
        for school in everyone:
            plugins.set_enabled(school, "complaints", False)
        db.session.flush()
        _table_off, off_few, _asked = measure([county.a1])
        _table_off, off_many, asked_off = measure(everyone)
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert few == many  # the pledge board's own queries and the hook's, both fixed
    assert few[1] >= 1  # the complaint box did count, inside the hook
    assert asked_few == [["a1"]]
    assert asked_many == [sorted(s.slug for s in everyone)]  # one call for every school
    # Where no plugin counts reports, the whole table takes a fixed number of queries.
    assert off_few[0] == off_many[0] == few[0]
    assert asked_off == []
    assert off_few[1] == off_many[1] == 0
    assert table.rows[more[0].id] == [1, "Yes", "0 / 0", "0 (0)"]
    assert table.rows[more[-1].id] == [0, "No", "0 / 0", "0 (0)"]
