"""Logging in and out, throttling, sessions, CSRF, cookies and the account page."""

from __future__ import annotations

import re
from datetime import timedelta
from html import unescape
from pathlib import Path

import pytest
import sqlalchemy as sa
from babel.support import Translations
from conftest import PASSWORD, login

from kaimen import create_app
from kaimen.auth.models import LoginThrottle, User, find_user
from kaimen.extensions import db

ROOT = Path(__file__).resolve().parents[2]
EN = {"Accept-Language": "en"}
ZH = {"Accept-Language": "zh-CN"}
NEW_PASSWORD = "a brand new password"


def assert_translated(response, msgid: str, **params) -> None:
    """The page is Chinese, with the zh_Hans translation of ``msgid`` once it has one."""
    body = unescape(response.get_data(as_text=True))
    assert '<html lang="zh-Hans">' in body
    text = Translations.load(str(ROOT / "translations"), ["zh_Hans"]).gettext(msgid)
    if text != msgid:
        assert (text % params if params else text) in body


def flashes(response) -> list[str]:
    body = response.get_data(as_text=True)
    return [unescape(m) for m in re.findall(r'<p class="flash flash-error"[^>]*>(.*?)</p>', body)]


def logged_in(client) -> bool:
    """Ask a page open to any logged-in user."""
    response = client.get("/account")
    assert response.status_code in (200, 302)
    return response.status_code == 200


def post_login(client, username, password=PASSWORD, headers=None, **data):
    return client.post("/login", data={"username": username, "password": password, **data},
                       headers=headers or EN)


# --- logging in -----------------------------------------------------------------------


@pytest.mark.parametrize(("username", "home"), [
    ("a1.admin", "/s/a1/desk/"),   # school staff land at their desk (issue 8, item 8)
    ("a1.teacher", "/s/a1/desk/"),
    ("a.admin", "/b/county-a/"),
    ("city.supervisor", "/b/city/"),
])
def test_login_redirects_to_the_users_organisation(client, county, username, home):
    response = post_login(client, username)
    assert response.status_code == 302
    assert response.headers["Location"] == home
    assert logged_in(client)


def test_login_username_is_case_insensitive(client, county):
    assert post_login(client, "  A1.Admin ").status_code == 302


def test_login_follows_a_safe_next(client, county):
    response = post_login(client, "a1.admin", next="/s/a2/?x=1")
    assert response.headers["Location"] == "/s/a2/?x=1"


def test_login_page_carries_next_from_the_query(client, county):
    page = client.get("/login?next=/b/county-a/audit/").get_data(as_text=True)
    assert 'value="/b/county-a/audit/"' in page
    response = client.post("/login?next=/b/county-a/audit/",
                           data={"username": "a.admin", "password": PASSWORD})
    assert response.headers["Location"] == "/b/county-a/audit/"


@pytest.mark.parametrize("target", [
    "//evil.example", "https://evil.example", "/\\evil.example", "\\\\evil.example",
    "http:/evil.example", " //evil.example/x", "javascript:alert(1)",
])
def test_login_ignores_open_redirects(client, county, target):
    response = post_login(client, "a1.admin", next=target)
    assert response.status_code == 302
    assert response.headers["Location"] == "/s/a1/desk/"


def test_wrong_password_and_unknown_user_answer_the_same(client, county):
    wrong = post_login(client, "a1.admin", "not the password")
    unknown = post_login(client, "nobody.here", "not the password")
    assert wrong.status_code == unknown.status_code == 200
    assert flashes(wrong) == flashes(unknown) == ["Wrong username or password."]
    assert not logged_in(client)


def test_wrong_password_message_is_translated(client, county):
    response = post_login(client, "a1.admin", "not the password", headers=ZH)
    assert_translated(response, "Wrong username or password.")


def test_disabled_user_cannot_log_in(client, county, ctx):
    county.users["a1.teacher"].active = False
    db.session.commit()
    response = post_login(client, "a1.teacher")
    assert response.status_code == 200
    assert flashes(response) == ["Wrong username or password."]
    assert not logged_in(client)


def test_names_are_locked_after_too_many_failures(app, client, county):
    app.config["LOGIN_MAX_FAILURES"] = 3
    for name in ("a1.teacher", "ghost.user"):
        for _ in range(3):
            assert post_login(client, name, "wrong password").status_code == 200
    known = post_login(client, "a1.teacher", "wrong password")
    unknown = post_login(client, "ghost.user", "wrong password")
    assert known.status_code == unknown.status_code == 429
    assert flashes(known) == flashes(unknown)
    assert flashes(known)[0].startswith("Too many failed attempts.")
    # Even the right password is refused while the name is locked ...
    right = post_login(client, "a1.teacher", PASSWORD)
    assert right.status_code == 429
    assert flashes(right) == flashes(known)
    assert not logged_in(client)
    # ... but other names are not affected.
    assert post_login(client, "a2.admin").status_code == 302


def test_a_lock_expires(app, client, county, ctx):
    from datetime import timedelta

    from kaimen.addresses import address_key
    from kaimen.timeutil import utcnow

    app.config["LOGIN_MAX_FAILURES"] = 2
    for _ in range(2):
        post_login(client, "a1.teacher", "wrong password")
    assert post_login(client, "a1.teacher").status_code == 429
    row = db.session.get(LoginThrottle, ("a1.teacher", address_key("127.0.0.1")))
    db.session.refresh(row)
    row.locked_until = utcnow() - timedelta(seconds=1)
    db.session.commit()
    assert post_login(client, "a1.teacher").status_code == 302
    db.session.expire_all()
    # a success clears the count of its address
    assert db.session.get(LoginThrottle, ("a1.teacher", address_key("127.0.0.1"))) is None


def test_per_ip_limit_gives_the_translated_429_page(app, client, county):
    app.config["LOGIN_IP_LIMIT"] = "3 per minute"
    for n in range(3):
        assert post_login(client, f"someone{n}", "wrong password").status_code == 200
    blocked = post_login(client, "someone9", "wrong password")
    assert blocked.status_code == 429
    assert "Too many requests" in blocked.get_data(as_text=True)
    blocked_zh = post_login(client, "someone10", "wrong password", headers=ZH)
    assert blocked_zh.status_code == 429
    assert_translated(blocked_zh, "Too many requests")
    # Even the right password waits for the limit.
    assert post_login(client, "a1.admin").status_code == 429


def test_successful_logins_do_not_use_up_the_ip_limit(app, client, county):
    app.config["LOGIN_IP_LIMIT"] = "2 per minute"
    for _ in range(4):
        assert post_login(client, "a1.admin").status_code == 302


# --- logging out and sessions -----------------------------------------------------------


def test_logout_requires_post_and_ends_the_session(client, county):
    login(client, "a1.admin")
    assert client.get("/logout").status_code == 405
    assert logged_in(client)
    response = client.post("/logout")
    assert response.status_code == 302
    assert response.headers["Location"] == "/"
    assert not logged_in(client)


def test_logout_ends_every_copy_of_the_session(app, county, ctx):
    """A cookie saved before logging out is worth nothing afterwards, from any client."""
    this, thief = app.test_client(), app.test_client()
    login(this, "a1.teacher")
    saved = this.get_cookie("session").value
    assert this.post("/logout").status_code == 302
    thief.set_cookie("session", saved)
    assert not logged_in(thief)
    response = thief.post("/account", data={"pref-locale": "en"})
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login")
    db.session.expire_all()
    assert find_user("a1.teacher").locale is None


def _age_session(client, seconds: int) -> None:
    with client.session_transaction() as session:
        session["_seen"] -= seconds


def test_an_idle_session_expires_after_the_configured_hours(app, county, ctx):
    assert app.config["SESSION_IDLE_HOURS"] == 8
    client = app.test_client()
    login(client, "a1.teacher")
    _age_session(client, 7 * 3600)
    assert logged_in(client)  # used within the limit: still on, and the clock restarts
    _age_session(client, 8 * 3600 - 30)
    assert logged_in(client)
    _age_session(client, 8 * 3600 + 60)
    assert not logged_in(client)
    response = client.post("/account", data={"pref-locale": "en"})
    assert response.headers["Location"].startswith("/login")
    db.session.expire_all()
    assert find_user("a1.teacher").locale is None


def test_the_idle_limit_is_a_setting(app, county, ctx):
    app.permanent_session_lifetime = timedelta(hours=1)
    try:
        client = app.test_client()
        login(client, "a1.teacher")
        _age_session(client, 3600 + 60)
        assert not logged_in(client)
    finally:
        app.permanent_session_lifetime = timedelta(hours=app.config["SESSION_IDLE_HOURS"])


def test_a_session_cookie_is_signed_for_the_idle_limit_only(app):
    assert app.permanent_session_lifetime == timedelta(hours=8)


def test_logout_needs_a_session(client, county):
    response = client.post("/logout")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login")


def _change_password(client, current, new=NEW_PASSWORD, confirm=None):
    return client.post("/account", headers=EN, data={
        "pw-current": current, "pw-new": new, "pw-confirm": new if confirm is None else confirm,
    })


def test_password_change_ends_other_sessions_but_keeps_this_one(app, county, ctx):
    this, other = app.test_client(), app.test_client()
    login(this, "a1.teacher")
    login(other, "a1.teacher")
    response = _change_password(this, PASSWORD)
    assert response.status_code == 302
    assert logged_in(this)
    assert not logged_in(other)
    # The old password no longer works, the new one does.
    assert post_login(other, "a1.teacher", PASSWORD).status_code == 200
    assert post_login(other, "a1.teacher", NEW_PASSWORD).status_code == 302


def test_account_wrong_current_password_changes_nothing(client, county, ctx):
    login(client, "a1.teacher")
    before = county.users["a1.teacher"].password_hash
    response = _change_password(client, "not my password")
    assert response.status_code == 200
    assert "The current password is wrong." in response.get_data(as_text=True)
    db.session.expire_all()
    assert find_user("a1.teacher").password_hash == before
    assert logged_in(client)
    client.post("/logout")
    assert post_login(client, "a1.teacher", NEW_PASSWORD).status_code == 200
    assert post_login(client, "a1.teacher", PASSWORD).status_code == 302


@pytest.mark.parametrize(("new", "confirm", "message"), [
    ("short", "short", "The password must have at least 10 characters."),
    (NEW_PASSWORD, "something else entirely", "The two passwords differ."),
])
def test_account_new_password_is_checked(client, county, ctx, new, confirm, message):
    login(client, "a1.teacher")
    before = county.users["a1.teacher"].password_hash
    response = _change_password(client, PASSWORD, new, confirm)
    assert response.status_code == 200
    assert message in response.get_data(as_text=True)
    db.session.expire_all()
    assert find_user("a1.teacher").password_hash == before


def test_account_saves_the_language_preference(client, county, ctx):
    login(client, "a1.teacher")
    client.get("/lang/zh_Hans")  # an explicit choice that the preference replaces
    response = client.post("/account", data={"pref-locale": "en"}, headers=ZH)
    assert response.status_code == 302
    assert "kaimen_locale=;" in response.headers.get("Set-Cookie", "")
    db.session.expire_all()
    assert find_user("a1.teacher").locale == "en"
    page = client.get("/account", headers=ZH).get_data(as_text=True)
    assert '<html lang="en">' in page
    assert 'value="en" selected' in page or 'selected value="en"' in page
    client.post("/account", data={"pref-locale": ""})
    db.session.expire_all()
    assert find_user("a1.teacher").locale is None


def test_account_refuses_an_unknown_language(client, county, ctx):
    login(client, "a1.teacher")
    response = client.post("/account", data={"pref-locale": "fr"}, headers=EN)
    assert response.status_code == 200
    db.session.expire_all()
    assert find_user("a1.teacher").locale is None


def test_disabling_a_user_ends_their_live_session(app, county, ctx):
    teacher, admin = app.test_client(), app.test_client()
    login(teacher, "a1.teacher")
    login(admin, "a.admin")
    user_id = county.users["a1.teacher"].id
    response = admin.post(f"/b/county-a/admin/users/{user_id}/active", data={"active": "0"})
    assert response.status_code == 302
    assert not logged_in(teacher)
    db.session.expire_all()
    assert db.session.get(User, user_id).active is False
    # Enabling again does not revive the old session, but allows a new login.
    admin.post(f"/b/county-a/admin/users/{user_id}/active", data={"active": "1"})
    assert not logged_in(teacher)
    login(teacher, "a1.teacher")
    assert logged_in(teacher)


# --- CSRF and cookies ---------------------------------------------------------------------


def _csrf_token(page: str) -> str:
    match = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page) or re.search(
        r'name="csrf_token" value="([^"]+)"', page)
    assert match, "no CSRF token in the page"
    return match.group(1)


def test_csrf_is_enforced_when_enabled(app, client, county):
    app.config["WTF_CSRF_ENABLED"] = True
    refused = client.post("/login", data={"username": "a1.admin", "password": PASSWORD}, headers=EN)
    assert refused.status_code == 400
    assert "This form has expired" in refused.get_data(as_text=True)
    assert not logged_in(client)
    refused_zh = client.post("/login", data={"username": "a1.admin", "password": PASSWORD},
                             headers=ZH)
    assert refused_zh.status_code == 400
    assert_translated(refused_zh, "This form has expired. Go back, reload the page and try again.")
    forged = client.post("/login", data={"username": "a1.admin", "password": PASSWORD,
                                         "csrf_token": "forged"})
    assert forged.status_code == 400
    token = _csrf_token(client.get("/login").get_data(as_text=True))
    accepted = client.post("/login", data={"username": "a1.admin", "password": PASSWORD,
                                           "csrf_token": token})
    assert accepted.status_code == 302
    # Logging out is a form too.
    assert client.post("/logout").status_code == 400
    assert logged_in(client)


def _set_cookie(response, name: str) -> str:
    cookies = [c for c in response.headers.getlist("Set-Cookie") if c.startswith(f"{name}=")]
    assert cookies, f"no {name} cookie set"
    return cookies[0]


def test_session_cookie_is_httponly_and_lax(client, county):
    cookie = _set_cookie(post_login(client, "a1.admin"), "session")
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie


def test_cookies_are_secure_in_production(monkeypatch, tmp_path):
    for name in ("DEBUG", "TESTING", "PROXY_COUNT", "DATABASE_URL"):
        monkeypatch.delenv(f"KAIMEN_{name}", raising=False)
    app = create_app({
        "SECRET_KEY": "a-long-random-production-secret-0123456789abcdef",
        "AUDIT_KEY": "a-long-random-audit-chain-key-0123456789abcdef",
        "BASE_URL": "https://kaimen.example.org",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'k.db'}",
    })
    assert app.config["SESSION_COOKIE_SECURE"] is True
    assert app.config["REMEMBER_COOKIE_SECURE"] is True
    client = app.test_client()
    response = client.get("/lang/xx", base_url="https://kaimen.example.org")
    cookie = _set_cookie(response, "session")  # the flash message lives in the session
    for flag in ("Secure", "HttpOnly", "SameSite=Lax"):
        assert flag in cookie
    chosen = client.get("/lang/en", base_url="https://kaimen.example.org")
    language = _set_cookie(chosen, "kaimen_locale")
    assert "Secure" in language
    assert "HttpOnly" in language
    with app.app_context():
        db.engine.dispose()


def test_cookies_are_not_secure_over_plain_http(monkeypatch, tmp_path):
    for name in ("DEBUG", "TESTING"):
        monkeypatch.delenv(f"KAIMEN_{name}", raising=False)
    app = create_app({
        "SECRET_KEY": "a-long-random-production-secret-0123456789abcdef",
        "AUDIT_KEY": "a-long-random-audit-chain-key-0123456789abcdef",
        "BASE_URL": "http://intranet.example",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'k.db'}",
    })
    assert app.config["SESSION_COOKIE_SECURE"] is False
    with app.app_context():
        db.engine.dispose()


def test_failed_logins_are_counted_even_for_unknown_names(client, county, ctx):
    from kaimen.addresses import address_key

    post_login(client, "ghost.user", "wrong")
    post_login(client, "ghost.user", "wrong")
    row = db.session.scalar(sa.select(LoginThrottle).where(
        LoginThrottle.username == "ghost.user",
        LoginThrottle.address == address_key("127.0.0.1")))
    assert row is not None
    assert row.failures == 2
