"""The session cookie: Flask's signed cookie, with its signer built once per secret key."""

from __future__ import annotations

from typing import Any

from flask import Flask
from flask.sessions import SecureCookieSessionInterface
from itsdangerous import URLSafeTimedSerializer


class KaimenSessionInterface(SecureCookieSessionInterface):
    """Flask's cookie session; the serializer is kept instead of rebuilt on every request."""

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
