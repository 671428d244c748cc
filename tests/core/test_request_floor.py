"""What every request pays: the shortcuts answer exactly as the libraries they skip would."""

from __future__ import annotations

import pytest
from conftest import login
from flask import jsonify, request
from flask.sessions import SecureCookieSessionInterface

COOKIELESS = {}
OTHER_COOKIE = {"HTTP_COOKIE": "kaimen_locale=en"}


def _opened(app, interface, environ):
    with app.test_request_context("/", environ_base=environ):
        opened = interface.open_session(app, request)
        return type(opened), dict(opened), opened.modified


@pytest.mark.parametrize("environ", [COOKIELESS, OTHER_COOKIE])
def test_a_session_opens_as_flasks_own(app, environ):
    assert _opened(app, app.session_interface, environ) == _opened(
        app, SecureCookieSessionInterface(), environ)


def _saved(app, interface, change):
    with app.test_request_context("/"):
        opened = interface.open_session(app, request)
        change(opened)
        response = app.response_class("x")
        interface.save_session(app, opened, response)
        return sorted(response.headers.items())


def _read(s):
    s.accessed = True  # as reading it through ``flask.session`` marks it


def _emptied(s):
    s["x"] = 1
    s.pop("x")


def _filled(s):
    s["x"] = 1


@pytest.mark.parametrize("change", [lambda s: None, _read, _emptied, _filled])
def test_a_session_is_saved_as_flasks_own(app, change):
    ours = _saved(app, app.session_interface, change)
    assert ours == _saved(app, SecureCookieSessionInterface(), change)
    if change is _read:
        assert ("Vary", "Cookie") in ours


def test_an_existing_vary_header_gains_cookie_once(app):
    with app.test_request_context("/"):
        opened = app.session_interface.open_session(app, request)
        _read(opened)
        response = app.response_class("x", headers={"Vary": "Accept-Language"})
        app.session_interface.save_session(app, opened, response)
        assert response.headers.getlist("Vary") == ["Accept-Language, Cookie"]


def test_a_cookieless_visit_sets_no_cookie_and_a_login_still_keeps_its_session(client, county):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert "Set-Cookie" not in response.headers
    assert "Cookie" in response.headers.get("Vary", "")
    login(client, "a1.admin")
    with client.session_transaction() as kept:
        assert kept.get("_user_id")
    assert client.get("/s/a1/desk/").status_code == 200


def test_rate_limit_headers_come_only_with_a_limit(client, county):
    """A request no limit looked at skips Flask-Limiter's after-request work; one a limit
    checked still gets its headers (and its conditional deductions: tests/core/test_auth)."""
    plain = client.get("/healthz")
    assert not [h for h in plain.headers.keys() if h.lower().startswith("x-ratelimit")]
    limited = client.post("/track", data={"code": "nothing"})
    assert limited.headers.get("X-RateLimit-Limit") == "30"
    assert int(limited.headers["X-RateLimit-Remaining"]) == 29


def test_a_get_needs_no_csrf_token_and_a_post_still_does(app, client, county):
    app.config["WTF_CSRF_ENABLED"] = True
    try:
        assert client.get("/track").status_code == 200
        assert client.post("/track", data={"code": "nothing"}).status_code == 400
    finally:
        app.config["WTF_CSRF_ENABLED"] = False


def test_the_health_check_answers_what_jsonify_would(app, client):
    response = client.get("/healthz")
    with app.app_context():
        expected = jsonify(status="ok", database="ok")
    assert response.data == expected.get_data()
    assert response.mimetype == expected.mimetype == "application/json"


def test_security_headers_join_every_response_but_never_replace_a_views_own(app):
    """The WSGI layer adds what a response did not set, and only that (HSTS with https)."""
    from kaimen.web.context import SECURITY_HEADERS, SecurityHeaders

    def inner(environ, start_response):
        start_response("200 OK", [("Content-Type", "text/plain"),
                                  ("referrer-policy", "no-referrer")])
        return [b"x"]

    def headers_of(base_url):
        app.config["BASE_URL"] = base_url
        seen = {}

        def start_response(status, headers, exc_info=None):
            seen["headers"] = headers

        SecurityHeaders(app, inner)({}, start_response)
        return seen["headers"]

    before = app.config["BASE_URL"]
    try:
        plain = headers_of("http://intranet.example")
        secure = headers_of("https://kaimen.example.org")
    finally:
        app.config["BASE_URL"] = before
    assert [v for k, v in plain if k.lower() == "referrer-policy"] == ["no-referrer"]
    assert {k for k, _ in SECURITY_HEADERS} - {"Referrer-Policy"} <= {k for k, _ in plain}
    assert not [k for k, _ in plain if k == "Strict-Transport-Security"]
    assert ("Strict-Transport-Security", "max-age=31536000") in secure
