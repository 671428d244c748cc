"""Cached public pages: only for anonymous visitors, per school and locale, fresh after a write."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC

import sqlalchemy as sa
from conftest import login
from kaimen_noticeboard import Notice

from blueprints.pledges import services as pledges
from blueprints.pledges.models import ETHICS
from kaimen import pagecache, tenancy
from kaimen.extensions import db
from kaimen.orgs import Organisation
from kaimen.timeutil import end_of_local_day, local_date, utcnow

EN = {"Accept-Language": "en"}
ZH = {"Accept-Language": "zh-CN"}
HIT = pagecache.HIT_HEADER


def _hit(response) -> bool:
    return response.headers.get(HIT) == "hit"


def _publish(school, actor, title, kind="service"):
    return pledges.publish_school_pledge(
        school, kind, actor, title=title, text=f"{title}: the text.", answerable="Principal",
        school_year=pledges.current_school_year())


def test_an_anonymous_page_is_served_from_the_cache_the_second_time(app, county):
    first = app.test_client().get("/s/a1/", headers=EN)
    second = app.test_client().get("/s/a1/", headers=EN)
    assert first.status_code == second.status_code == 200
    assert not _hit(first)
    assert _hit(second)
    assert second.get_data() == first.get_data()
    # The page rule and the security headers still apply to a page from the cache.
    assert "no-store" not in second.headers.get("Cache-Control", "")
    assert second.headers["Content-Security-Policy"] == first.headers["Content-Security-Policy"]
    assert "Set-Cookie" not in second.headers


def _note_flask_hooks(app, hooks: list[str], monkeypatch) -> None:
    """Note "flask" in ``hooks`` whenever Flask dispatches a request (its first hook)."""
    first = app.url_value_preprocessors.get(None, [])
    monkeypatch.setitem(app.url_value_preprocessors, None,
                        [lambda _endpoint, _values: hooks.append("flask"), *first])


def test_a_visitor_with_no_cookie_is_answered_before_flask_makes_a_request(app, county,
                                                                         monkeypatch):
    """The WSGI front answers a kept page with no Flask hook run, and with exactly the
    headers the page was stored with (less the length, which it sets, plus the mark)."""
    hooks: list[str] = []
    _note_flask_hooks(app, hooks, monkeypatch)
    first = app.test_client().get("/s/a1/", headers=EN)
    assert hooks == ["flask"]
    assert not _hit(first)
    hooks.clear()
    second = app.test_client().get("/s/a1/", headers=EN)
    assert _hit(second)
    assert hooks == []
    assert second.get_data() == first.get_data()
    assert ({k: v for k, v in second.headers.items() if k != HIT}
            == dict(first.headers.items()))
    assert "Vary" in second.headers
    assert "Set-Cookie" not in second.headers
    # The language cookie is the one cookie the front reads: its own page, still no hook.
    chosen = app.test_client()
    chosen.set_cookie("kaimen_locale", "zh_Hans")
    assert not _hit(chosen.get("/s/a1/", headers=EN))
    hooks.clear()
    chinese = chosen.get("/s/a1/", headers=EN)
    assert _hit(chinese)
    assert hooks == []
    assert '<html lang="zh-Hans">' in chinese.get_data(as_text=True)


def test_a_session_cookie_goes_through_flask_and_a_user_never_gets_a_kept_page(app, county,
                                                                               monkeypatch):
    hooks: list[str] = []
    _note_flask_hooks(app, hooks, monkeypatch)
    app.test_client().get("/s/a1/", headers=EN)
    flashed = app.test_client()
    flashed.get("/lang/xx", headers=EN)  # an anonymous session, with a message waiting in it
    flashed.get("/s/a1/", headers=EN)  # shows the message
    hooks.clear()
    page = flashed.get("/s/a1/", headers=EN)  # the session stays: Flask reads it first
    assert _hit(page)
    assert hooks == ["flask"]
    staff = app.test_client()
    login(staff, "a1.admin")
    page = staff.get("/s/a1/", headers=EN)
    assert not _hit(page)
    assert 'href="/s/a1/desk/"' in page.get_data(as_text=True)
    unknown = app.test_client()
    unknown.set_cookie("tracker", "1")  # a cookie the app does not know: Flask's own look-up
    hooks.clear()
    assert _hit(unknown.get("/s/a1/", headers=EN))
    assert hooks == ["flask"]


def test_the_front_passes_by_every_request_that_cannot_be_a_kept_page(app, county, monkeypatch):
    looked_up: list[str] = []
    real = pagecache._school_and_versions

    def noted(slug):
        looked_up.append(slug)
        return real(slug)

    routed: list[str] = []
    adapter = app.create_url_adapter

    def routing(asked):
        if asked is not None:
            routed.append(asked.path)
        return adapter(asked)

    monkeypatch.setattr(pagecache, "_school_and_versions", noted)
    monkeypatch.setattr(app, "create_url_adapter", routing)
    client = app.test_client()
    assert client.get("/healthz").status_code == 200
    assert client.get("/login", headers=EN).status_code == 200
    assert looked_up == []
    assert routed == ["/healthz", "/login"]  # by Flask alone: the front let them pass by
    app.test_client().get("/s/a1/", headers=EN)
    assert looked_up == ["a1"]  # by the front; on its miss Flask takes the key it found
    app.test_client().get("/s/a1/", headers=EN)
    assert looked_up == ["a1", "a1"]  # a hit


def test_the_front_refuses_an_untrusted_host_as_flask_does(app, county):
    client = app.test_client()
    client.get("/s/a1/", headers=EN)
    assert _hit(client.get("/s/a1/", headers=EN))
    stranger = client.get("/s/a1/", headers=EN, base_url="http://evil.example")
    assert stranger.status_code == 400
    assert not _hit(stranger)
    assert b"evil.example" not in stranger.get_data()


def test_the_front_asks_a_pooled_connection_for_what_was_committed(session_app):
    """With the app's own session (not the tests' one-connection sessions) the front's
    look-up runs on a pooled DBAPI connection of its own, and sees what was committed."""
    table, versions = Organisation.__table__, pagecache.SchoolVersion.__table__
    with session_app.app_context():
        assert not isinstance(db.session.session_factory.kw.get("bind"), sa.Connection)
        engine = db.engine

        def add(connection: sa.Connection, **values: object) -> int:
            return connection.execute(sa.insert(table).values(
                name=values["slug"], timezone="Asia/Shanghai", created_at=utcnow(), **values)
            ).inserted_primary_key[0]

        with engine.begin() as connection:
            bureau = add(connection, kind="bureau", slug="front-bureau", default_locale="en")
            school = add(connection, kind="school", slug="front-school", parent_id=bureau,
                         default_locale="zh_Hans")
            connection.execute(sa.insert(versions).values(school_id=school, version=7,
                                                           form_version=3))
            everywhere = connection.scalar(sa.select(versions.c.version).where(
                versions.c.school_id == pagecache.EVERYWHERE)) or 0
        try:
            assert pagecache._school_and_versions("front-school") == (school, everywhere, 7, "en",
                                                                      3)
            assert pagecache._school_and_versions("front-bureau") is None  # not a school
            assert pagecache._school_and_versions("no-such-school") is None
        finally:
            with engine.begin() as connection:
                connection.execute(sa.delete(versions).where(versions.c.school_id == school))
                connection.execute(sa.delete(table).where(table.c.id == school))
                connection.execute(sa.delete(table).where(table.c.id == bureau))


def test_a_staff_only_link_never_appears_in_a_cached_page(app, county):
    desk = 'href="/s/a1/desk/"'
    anonymous = app.test_client().get("/s/a1/", headers=EN)
    assert desk not in anonymous.get_data(as_text=True)
    staff = app.test_client()
    login(staff, "a1.admin")
    for _ in range(2):  # the staff page is never served from the cache, nor stored in it
        page = staff.get("/s/a1/", headers=EN)
        assert not _hit(page)
        assert desk in page.get_data(as_text=True)
        assert page.headers["Cache-Control"] == "no-store"
    again = app.test_client().get("/s/a1/", headers=EN)
    assert _hit(again)
    assert desk not in again.get_data(as_text=True)
    assert "Log in" in again.get_data(as_text=True)


def test_a_page_is_never_shared_across_schools_or_locales(app, county):
    client = app.test_client()
    client.get("/s/a1/", headers=EN)
    assert _hit(client.get("/s/a1/", headers=EN))
    other_school = client.get("/s/a2/", headers=EN)
    assert not _hit(other_school)
    assert "a2学校" in other_school.get_data(as_text=True)
    assert "a1学校" not in other_school.get_data(as_text=True)
    chinese = client.get("/s/a1/", headers=ZH)
    assert not _hit(chinese)
    assert '<html lang="zh-Hans">' in chinese.get_data(as_text=True)
    assert _hit(client.get("/s/a1/", headers=ZH))
    english = client.get("/s/a1/", headers=EN)
    assert _hit(english)
    assert '<html lang="en">' in english.get_data(as_text=True)


def test_a_published_pledge_shows_at_once(app, county):
    visitor = app.test_client()
    for path in ("/s/a1/", "/s/a1/pledges/"):
        visitor.get(path, headers=EN)
        assert _hit(visitor.get(path, headers=EN))
    staff = app.test_client()
    login(staff, "a1.admin")
    response = staff.post("/s/a1/pledges/new", data={
        "kind": "service", "title": "Answer within three days", "text": "Every parent, soon.",
        "answerable": "Principal's office", "school_year": pledges.current_school_year()})
    assert response.status_code == 302
    for path in ("/s/a1/", "/s/a1/pledges/"):
        page = visitor.get(path, headers=EN)
        assert not _hit(page)
        assert "Answer within three days" in page.get_data(as_text=True)
    # Another school's pages were not touched by that write: still served from the cache.
    visitor.get("/s/a2/pledges/", headers=EN)
    assert _hit(visitor.get("/s/a2/pledges/", headers=EN))


def test_an_edit_and_a_bulk_update_bump_the_school_version(app, county, ctx):
    notice = Notice(school_id=county.a1.id, title="Sports day")
    db.session.add(notice)
    db.session.commit()
    before = pagecache.versions(county.a1.id)
    other = pagecache.versions(county.a2.id)
    notice.title = "Sports day moved"
    db.session.commit()
    edited = pagecache.versions(county.a1.id)
    assert edited > before
    # An ORM UPDATE skips the flush; within one school it bumps that school.
    with tenancy.system_scope():
        tenancy.set_scope({county.a1.id})
        db.session.execute(sa.update(Notice).values(title="Sports day, again"))
    assert pagecache.versions(county.a1.id) > edited
    assert pagecache.versions(county.a2.id) == other


def test_the_csrf_token_and_the_session_cookie_are_never_cached(app, county, ctx):
    ethics = _publish(county.a1, county.users["a1.admin"], "Teacher ethics", kind=ETHICS)
    db.session.commit()
    app.config["WTF_CSRF_ENABLED"] = True  # restored by the app fixture
    path = f"/s/a1/pledges/{ethics.id}"
    first_visitor = app.test_client()
    first = first_visitor.get(path, headers=EN)
    assert first.status_code == 200
    assert "Set-Cookie" in first.headers  # the sign form's token went into a session
    second = first_visitor.get(path, headers=EN)  # no new cookie, but a token of theirs
    assert not _hit(second)
    someone_else = app.test_client().get(path, headers=EN)
    assert not _hit(someone_else)
    assert "Set-Cookie" in someone_else.headers  # a session of their own, not the first's


def test_a_flashed_message_is_shown_and_never_cached(app, county):
    app.test_client().get("/s/a1/", headers=EN)
    flashed = app.test_client()
    flashed.get("/lang/xx", headers=EN)  # an unknown language: an error waits in the session
    page = flashed.get("/s/a1/", headers=EN)
    assert not _hit(page)
    assert "That language is not available." in page.get_data(as_text=True)
    clean = app.test_client().get("/s/a1/", headers=EN)
    assert _hit(clean)
    assert "That language is not available." not in clean.get_data(as_text=True)


def test_not_found_pages_are_not_cached(app, county):
    client = app.test_client()
    for _ in range(2):
        response = client.get("/s/a1/pledges/2147483000", headers=EN)
        assert response.status_code == 404
        assert not _hit(response)


def test_the_cache_can_be_switched_off(app, county):
    app.config["PAGE_CACHE"] = False  # restored by the app fixture
    client = app.test_client()
    assert not any(_hit(client.get("/s/a1/", headers=EN)) for _ in range(2))


def test_open_day_list_is_cached_per_month(app, county):
    client = app.test_client()
    client.get("/s/a1/opendays/", headers=EN)
    assert _hit(client.get("/s/a1/opendays/", headers=EN))
    other_month = client.get("/s/a1/opendays/?month=2026-01", headers=EN)
    assert other_month.status_code == 200
    assert not _hit(other_month)
    assert re.search(r"2026-01", other_month.get_data(as_text=True))


# -- a public form's page: rendered once, each visitor's tokens filled in ------------------

FORM = "/s/a1/complaints/"
CSRF_FIELD = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')
TOKEN_FIELD = re.compile(r'name="token" type="hidden" value="([^"]+)"')


def _parts(response) -> str | None:
    return response.headers.get(HIT)


def _opinion(csrf: str, token: str) -> dict[str, str]:
    return {"csrf_token": csrf, "token": token, "kind": "complaint",
            "category": "arbitrary_fees", "subject": "班级收取资料费",
            "description": "三年级二班班主任要求每位学生交200元资料费，没有收据。",
            "identity": "anonymous"}


def test_a_form_page_is_rendered_once_and_each_visitor_gets_tokens_of_their_own(app, county):
    app.config["WTF_CSRF_ENABLED"] = True  # restored by the app fixture
    first_visitor, second_visitor = app.test_client(), app.test_client()
    first = first_visitor.get(FORM, headers=EN)
    second = second_visitor.get(FORM, headers=EN)
    assert (_parts(first), _parts(second)) == ("parts-miss", "parts-hit")
    pages = [page.get_data(as_text=True) for page in (first, second)]
    csrf = [CSRF_FIELD.search(page)[1] for page in pages]
    tokens = [TOKEN_FIELD.search(page)[1] for page in pages]
    assert csrf[0] != csrf[1]
    assert tokens[0] != tokens[1]
    assert "\x00" not in pages[1]
    assert CSRF_FIELD.sub("", TOKEN_FIELD.sub("", pages[0])) == \
        CSRF_FIELD.sub("", TOKEN_FIELD.sub("", pages[1]))
    assert second.headers["Cache-Control"] == "no-store"  # still the visitor's own page
    assert "Set-Cookie" in second.headers  # their CSRF token is in a session of their own
    # The page from the parts works: it files, and the first visitor's token is not reused.
    filed = second_visitor.post(FORM, data=_opinion(csrf[1], tokens[1]), headers=EN)
    assert filed.status_code == 200
    assert 'class="receipt-code"' in filed.get_data(as_text=True)
    refused = second_visitor.post(FORM, data=_opinion(csrf[0], tokens[0]), headers=EN)
    assert 'class="receipt-code"' not in refused.get_data(as_text=True)


def test_the_front_answers_a_form_page_until_the_bureaus_day_ends(app, county, monkeypatch):
    """The second visitor's form is filled from the kept parts before the school, its plugins
    or the form are loaded; once the bureau's day is over (the page shows its date), the
    view renders it again."""
    app.config["WTF_CSRF_ENABLED"] = True  # restored by the app fixture
    first = app.test_client().get(FORM, headers=EN)
    second, statements = _visit(app, FORM)
    assert (_parts(first), _parts(second)) == ("parts-miss", "parts-hit")
    assert len(statements) == 1  # the front's look-up
    assert "school_version" in statements[0]
    pages = [page.get_data(as_text=True) for page in (first, second)]
    assert TOKEN_FIELD.search(pages[0])[1] != TOKEN_FIELD.search(pages[1])[1]
    assert CSRF_FIELD.search(pages[0])[1] != CSRF_FIELD.search(pages[1])[1]
    assert CSRF_FIELD.sub("", TOKEN_FIELD.sub("", pages[0])) == \
        CSRF_FIELD.sub("", TOKEN_FIELD.sub("", pages[1]))
    assert second.headers["Cache-Control"] == "no-store"
    assert second.headers["Content-Security-Policy"] == first.headers["Content-Security-Policy"]

    with app.app_context(), tenancy.system_scope():
        school = db.session.get(Organisation, county.a1.id)
        ends = end_of_local_day(school, local_date(school)).replace(tzinfo=UTC).timestamp()
    monkeypatch.setattr(pagecache.time, "time", lambda: ends + 1)
    later, statements = _visit(app, FORM)
    assert len(statements) > 1  # the school and its plugins were loaded: the view answered
    assert 'class="receipt-code"' not in later.get_data(as_text=True)
    assert TOKEN_FIELD.search(later.get_data(as_text=True))



def test_an_opinion_ages_the_school_page_but_not_the_next_parents_form(app, county):
    """An opinion (form-neutral rows: the case, its events, its receipt and audit event)
    bumps the school's version, not its form version: the next parent's form is still
    answered by the front. Any other write of the school ages the form too."""
    app.config["WTF_CSRF_ENABLED"] = True  # restored by the app fixture
    assert _parts(app.test_client().get(FORM, headers=EN)) == "parts-miss"
    parent = app.test_client()
    page = parent.get(FORM, headers=EN)
    assert _parts(page) == "parts-hit"
    with app.app_context():
        before = pagecache.versions(county.a1.id), pagecache.versions(county.a1.id, forms=True)
    text = page.get_data(as_text=True)
    filed = parent.post(FORM, data=_opinion(CSRF_FIELD.search(text)[1],
                                            TOKEN_FIELD.search(text)[1]), headers=EN)
    assert 'class="receipt-code"' in filed.get_data(as_text=True)
    with app.app_context():
        after = pagecache.versions(county.a1.id), pagecache.versions(county.a1.id, forms=True)
    assert after[0][1] > before[0][1]  # the school page counts opinions: it starts afresh
    assert after[1] == before[1]
    following, statements = _visit(app, FORM)
    assert _parts(following) == "parts-hit"
    assert len(statements) == 1
    with app.app_context(), tenancy.system_scope():
        db.session.get(Organisation, county.a1.id).name = "改名的一校"
        db.session.commit()
    renamed, statements = _visit(app, FORM)
    assert _parts(renamed) == "parts-miss"
    assert "改名的一校" in renamed.get_data(as_text=True)


def _visit(app, path: str) -> tuple[object, list[str]]:
    """GET ``path`` as a new visitor; return the response and the statements it sent."""
    statements: list[str] = []

    def note(_conn, _cursor, statement, *_rest):
        statements.append(statement)

    sa.event.listen(db.engine, "before_cursor_execute", note)
    try:
        response = app.test_client().get(path, headers=EN)
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", note)
    return response, statements


def test_a_form_page_is_never_shared_across_schools_locales_or_users(app, county):
    client = app.test_client()
    assert _parts(client.get(FORM, headers=EN)) == "parts-miss"
    other_school = client.get("/s/a2/complaints/", headers=EN)
    assert _parts(other_school) == "parts-miss"
    assert "a1学校" not in other_school.get_data(as_text=True)
    chinese = client.get(FORM, headers=ZH)
    assert _parts(chinese) == "parts-miss"
    assert '<html lang="zh-Hans">' in chinese.get_data(as_text=True)
    prefilled = client.get(FORM + "?title=Fees", headers=EN)
    assert _parts(prefilled) is None
    staff = app.test_client()
    login(staff, "a1.admin")
    assert _parts(staff.get(FORM, headers=EN)) is None


def test_a_bureau_setting_shows_on_the_form_at_once(app, county, ctx):
    from blueprints.complaints import services as complaints

    client = app.test_client()
    client.get(FORM, headers=EN)
    assert _parts(client.get(FORM, headers=EN)) == "parts-hit"
    complaints.set_time_limits(county.a, 1, 3)  # the bureau's row: no school_id on it
    db.session.commit()
    page = client.get(FORM, headers=EN)
    assert _parts(page) == "parts-miss"
    assert "answered within 3 working days" in page.get_data(as_text=True)


def test_the_audit_head_ages_no_page(app, county, ctx):
    from kaimen import audit

    client = app.test_client()
    client.get("/s/a1/", headers=EN)
    with tenancy.system_scope():
        audit.record("test.nothing_public", bureau=county.a)
    db.session.commit()
    assert _hit(client.get("/s/a1/", headers=EN))


def test_a_school_version_is_locked_for_the_commit_only(backend, fresh_database):
    """A writer still in its transaction does not hold up another writer of the school."""
    import pytest
    from conftest import make_app, one_writer_waits_for_none

    from kaimen.orgs import BUREAU, SCHOOL, Organisation

    if backend == "sqlite":
        pytest.skip("SQLite lets one writer at a time into the whole database")
    app = make_app(fresh_database.url(backend))
    with app.app_context(), tenancy.system_scope():
        db.create_all()
        bureau = Organisation(kind=BUREAU, slug="busy", name="忙碌教育局")
        db.session.add(bureau)
        db.session.flush()
        school = Organisation(kind=SCHOOL, slug="busy-school", name="忙碌学校",
                              parent_id=bureau.id)
        db.session.add(school)
        db.session.commit()
        school_id = school.id
        db.session.add(Notice(school_id=school_id, title="first"))
        db.session.commit()  # the version row exists before the race
        start = pagecache.versions(school_id)[1]

    def add_notice(title: str) -> Callable[[], None]:
        return lambda: db.session.add(Notice(school_id=school_id, title=title))

    errors = one_writer_waits_for_none(app, add_notice("slow"), add_notice("quick"))
    try:
        assert errors == []
        with app.app_context(), tenancy.system_scope():
            assert pagecache.versions(school_id)[1] == start + 2  # each commit bumped once
    finally:
        with app.app_context():
            db.engine.dispose()
