"""The public board and the staff pages: publish, sign, edit with history, bad input, isolation."""

import re

import pytest
import sqlalchemy as sa
from conftest import login

from blueprints.pledges.models import Pledge, PledgeSignature
from kaimen import tenancy
from kaimen.audit import AuditEvent
from kaimen.extensions import db

from .conftest import english


def _pledge(pledge_id):
    with tenancy.system_scope():
        return db.session.scalar(
            sa.select(Pledge).where(Pledge.id == pledge_id)
            .execution_options(populate_existing=True)
        )


def _signatures():
    with tenancy.system_scope():
        return db.session.scalars(sa.select(PledgeSignature)).all()


def _form(title="Answer within three days", text="We answer every parent within three days.",
          **extra):
    return {"kind": "service", "title": title, "text": text, "answerable": "Principal's office",
            "school_year": "2026-2027"} | extra


def test_admin_publishes_a_pledge_that_the_public_sees(county, as_user, visitor):
    client = as_user("a1.admin")
    response = client.post("/s/a1/pledges/new", data=_form())
    assert response.status_code == 302
    pledge_id = int(response.headers["Location"].rstrip("/").rsplit("/", 1)[1])
    board = visitor.get("/s/a1/pledges/")
    assert board.status_code == 200
    assert "Answer within three days" in board.text
    assert "We answer every parent within three days." in board.text
    assert "Principal&#39;s office" in board.text
    assert "Answer within three days" not in visitor.get("/s/a2/pledges/").text
    assert "Answer within three days" in visitor.get("/s/a1/").text
    with tenancy.system_scope():
        event = db.session.scalar(sa.select(AuditEvent).where(
            AuditEvent.object_id == str(pledge_id), AuditEvent.object_type == "Pledge"))
    assert event.action == "pledge.published"
    assert event.actor_name == "a1.admin"
    assert event.school_id == county.a1.id


def test_a_teacher_signs_and_the_board_lists_the_name(board, as_user, visitor):
    client = as_user("a1.teacher")
    page = client.get(f"/s/a1/pledges/{board.ethics}")
    assert "Sign the pledge" in page.text
    assert client.post(f"/s/a1/pledges/{board.ethics}/sign").status_code == 302
    assert [s.user.username for s in _signatures()] == ["a1.teacher"]
    assert "A1.Teacher" in visitor.get("/s/a1/pledges/").text
    assert "Signed by 1 teacher" in visitor.get("/s/a1/pledges/").text
    again = client.post(f"/s/a1/pledges/{board.ethics}/sign", follow_redirects=True)
    assert "already signed" in again.text
    assert len(_signatures()) == 1
    with tenancy.system_scope():
        actions = db.session.scalars(sa.select(AuditEvent.action)).all()
    assert actions.count("pledge.signed") == 1


def test_an_admin_cannot_sign_for_a_teacher(board, as_user, app):
    client = as_user("a1.admin")
    teacher_id = board.county.users["a1.teacher"].id
    response = client.post(f"/s/a1/pledges/{board.ethics}/sign", data={"user_id": teacher_id})
    assert response.status_code == 403
    assert _signatures() == []
    assert "Sign the pledge" not in client.get(f"/s/a1/pledges/{board.ethics}").text
    # No route of the plugin takes a user to sign for.
    for rule in app.url_map.iter_rules():
        if rule.endpoint.startswith("pledges"):
            assert not any("user" in argument for argument in rule.arguments), rule


def test_an_edit_shows_on_the_public_page_with_its_history(board, as_user, visitor):
    client = as_user("a1.admin")
    assert "Changed on" not in visitor.get("/s/a1/pledges/").text
    response = client.post(f"/s/a1/pledges/{board.fees}/edit", data=_form(
        title="No arbitrary fees", text="Every fee is published at the gate."))
    assert response.status_code == 302
    public = visitor.get(f"/s/a1/pledges/{board.fees}")
    assert "Changed on" in public.text
    assert "Every fee is published at the gate." in public.text
    history_url = f"/s/a1/pledges/{board.fees}/history"
    assert history_url in public.text
    assert history_url in visitor.get("/s/a1/pledges/").text
    history = visitor.get(history_url)
    assert history.status_code == 200
    assert "No arbitrary fees: the text." in history.text
    assert "Every fee is published at the gate." in history.text
    assert history.text.index("Every fee is published") < history.text.index("the text.")
    with tenancy.system_scope():
        actions = db.session.scalars(sa.select(AuditEvent.action).where(
            AuditEvent.object_id == str(board.fees), AuditEvent.object_type == "Pledge")).all()
    assert actions == ["pledge.published", "pledge.edited"]


def test_progress_updates_and_withdrawal_are_public_and_dated(board, as_user, visitor):
    client = as_user("a1.admin")
    assert client.post(f"/s/a1/pledges/{board.fees}/updates",
                       data={"text": "Fees posted at the gate."}).status_code == 302
    assert client.post(f"/s/a1/pledges/{board.fees}/status",
                       data={"status": "withdrawn", "reason": "Replaced by the new list"}
                       ).status_code == 302
    page = visitor.get(f"/s/a1/pledges/{board.fees}").text
    assert "Fees posted at the gate." in page
    assert "Withdrawn on" in page
    assert "Replaced by the new list" in page


@pytest.mark.parametrize(("data", "message"), [
    (_form(text=""), "Write what you pledge."),
    (_form(text="   "), "Write what you pledge."),
    (_form(text="x" * 4001), "Write at most 4000 characters."),
    (_form(title=""), "Give the pledge a title."),
    (_form(title="t" * 201), "Write at most 200 characters."),
    (_form(school_year="2026"), "two consecutive years"),
])
def test_bad_input_is_refused_with_the_input_kept(county, as_user, data, message):
    client = as_user("a1.admin")
    response = client.post("/s/a1/pledges/new", data=data)
    assert response.status_code == 200
    assert message in response.text
    if data["title"]:
        assert f'value="{data["title"]}"' in response.text
    with tenancy.system_scope():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Pledge)) == 0


def test_withdrawing_without_a_reason_is_refused(board, as_user):
    client = as_user("a1.admin")
    response = client.post(f"/s/a1/pledges/{board.fees}/status",
                           data={"status": "withdrawn", "reason": ""})
    assert response.status_code == 200
    assert "Give the public reason for withdrawing the pledge." in response.text
    assert _pledge(board.fees).status == "active"


def test_an_edit_with_empty_text_keeps_the_pledge(board, as_user):
    client = as_user("a1.admin")
    response = client.post(f"/s/a1/pledges/{board.fees}/edit",
                           data=_form(title="Changed title", text=""))
    assert "Write what you pledge." in response.text
    assert 'value="Changed title"' in response.text
    pledge = _pledge(board.fees)
    assert pledge.title == "No arbitrary fees"
    assert len(pledge.versions) == 1


def test_html_in_a_pledge_is_shown_as_text(county, as_user, visitor):
    client = as_user("a1.admin")
    client.post("/s/a1/pledges/new", data=_form(title="<b>bold</b>",
                                                text="<script>alert(1)</script>"))
    for page in (visitor.get("/s/a1/pledges/").text, visitor.get("/s/a1/").text,
                 visitor.get("/s/a1/pledges/poster").text):
        assert "<script>alert(1)</script>" not in page
        assert "<b>bold</b>" not in page
        assert "&lt;b&gt;bold&lt;/b&gt;" in page


ROUTES = [("get", "{}"), ("get", "{}/history"), ("get", "{}/edit"), ("post", "{}/edit"),
          ("post", "{}/status"), ("post", "{}/updates"), ("post", "{}/sign")]


@pytest.mark.parametrize(("method", "path"), ROUTES)
@pytest.mark.parametrize("username", ["a1.admin", "a1.teacher", None])
def test_a_pledge_of_another_school_answers_404(board, as_user, visitor, method, path, username):
    client = as_user(username) if username else visitor
    url = "/s/a1/pledges/" + path.format(board.other)
    data = _form(title="Hijacked") | {"status": "withdrawn", "reason": "x"}
    response = getattr(client, method)(url, data=data) if method == "post" else client.get(url)
    public = method == "get" and not path.endswith("edit")
    if username is None and not public:
        assert response.status_code == 302
        assert "/login" in response.headers["Location"]
    elif not public and (username == "a1.teacher") != path.endswith("sign"):
        # Own staff without the right learn so (403) before any pledge is loaded.
        assert response.status_code == 403
    else:
        assert response.status_code == 404
    other = _pledge(board.other)
    assert (other.title, other.status, len(other.versions), other.updates, other.signatures) == (
        "A2 pledge", "active", 1, [], [])


def test_staff_pages_work_and_list_the_pledges(board, as_user):
    client = as_user("a1.admin")
    page = client.get("/s/a1/pledges/manage")
    assert page.status_code == 200
    assert "No arbitrary fees" in page.text
    assert "A2 pledge" not in page.text
    edit = client.get(f"/s/a1/pledges/{board.fees}/edit")
    assert edit.status_code == 200
    assert 'value="No arbitrary fees"' in edit.text
    assert client.get("/s/a1/pledges/new").status_code == 200
    assert re.search(r'href="/s/a1/pledges/manage"', page.text)


def test_the_teachers_desk_lists_the_pledges_awaiting_her_signature(board, as_user, app):
    teacher = as_user("a1.teacher")
    desk = teacher.get("/s/a1/desk/").text
    assert "Pledges awaiting your signature" in desk
    assert f'href="/s/a1/pledges/{board.ethics}"' in desk
    assert f'href="/s/a1/pledges/{board.fees}"' not in desk  # a service pledge is not signed
    assert teacher.post(f"/s/a1/pledges/{board.ethics}/sign").status_code == 302
    assert "Pledges awaiting your signature" not in teacher.get("/s/a1/desk/").text
    admin = english(app.test_client())
    login(admin, "a1.admin")  # an admin signs nothing, so nothing waits for her signature
    assert "Pledges awaiting your signature" not in admin.get("/s/a1/desk/").text


def test_the_audit_log_names_pledge_actions_and_links_the_pledge(board, as_user):
    supervisor = english(as_user("a.supervisor"))
    page = supervisor.get("/b/county-a/audit/", query_string={"action": "pledge.published"})
    html = page.get_data(as_text=True)
    assert "Pledge published" in html
    assert f'<a href="/s/a1/pledges/{board.fees}">Pledge {board.fees}</a>' in html
    assert 'data-action="pledge.signed"' not in html
