"""The session cookie: Flask's signed cookie, with its signer built once per secret key, and
nothing parsed or written for a visitor who has none and gets none."""

from __future__ import annotations

from typing import Any

from flask import Flask, Request, Response
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface, SessionMixin
from itsdangerous import URLSafeTimedSerializer


class KaimenSessionInterface(SecureCookieSessionInterface):
    """Flask's cookie session; the serializer is kept instead of rebuilt on every request.

    A request that sends no cookie at all (a health check, a parent's first visit) starts
    with an empty session without parsing the cookies, and a session that stays empty is
    not saved: only its ``Vary: Cookie`` is added when it was read, as Flask does. Both
    paths answer exactly as Flask's own, which first reads seven cookie settings.
    """

    def __init__(self) -> None:
        self._signers: dict[Any, URLSafeTimedSerializer] = {}

    def get_signing_serializer(self, app: Flask) -> URLSafeTimedSerializer | None:
        key = (app.secret_key, tuple(app.config.get("SECRET_KEY_FALLBACKS") or ()))
        if not app.secret_key:
            return None
        signer = self._signers.get(key)
        if signer is None:
            signer = super().get_signing_serializer(app)
            if signer is None:
                return None
            self._signers = {key: signer}  # one key at a time: an old one is dropped
        return signer

    def open_session(self, app: Flask, request: Request) -> SecureCookieSession | None:
        if "HTTP_COOKIE" not in request.environ and app.secret_key:
            return self.session_class()
        return super().open_session(app, request)

    def save_session(self, app: Flask, session: SessionMixin, response: Response) -> None:
        if not session and not session.modified:  # nothing to set, nor a cookie to delete
            if session.accessed:
                if response.headers.getlist("Vary"):  # a look-up that raises no KeyError
                    response.vary.add("Cookie")
                else:
                    response.headers["Vary"] = "Cookie"
            return
        super().save_session(app, session, response)
