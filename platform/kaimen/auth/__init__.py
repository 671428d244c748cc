"""Accounts, role grants and permissions."""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

from flask import Flask, current_app, session
from flask_login import user_logged_in

from ..extensions import db, login_manager
from .models import User

# When the session last served a request, in seconds since the epoch; refreshed at most
# once a minute, so an active user's cookie is not rewritten on every request.
LAST_SEEN = "_seen"
REFRESH_SECONDS = 60


@login_manager.user_loader
def _load_user(session_id: str) -> User | None:
    """Return the user of a session id ``<id>.<version>``, or None when stale or idle."""
    user_id, _, version = session_id.partition(".")
    if not (user_id.isdigit() and version.isdigit()) or not _still_fresh():
        return None
    user = db.session.get(User, int(user_id))
    if user is None or not user.active or user.session_version != int(version):
        return None
    return user


def _still_fresh() -> bool:
    """Return whether the session was used within the idle limit, and note this use."""
    now = int(time.time())
    seen = session.get(LAST_SEEN)
    idle = current_app.permanent_session_lifetime.total_seconds()
    if not isinstance(seen, int) or not 0 <= now - seen <= idle:
        session.clear()
        return False
    if now - seen >= REFRESH_SECONDS:
        session[LAST_SEEN] = now
    return True


def _note_login(_app: Any, **_extra: Any) -> None:
    session[LAST_SEEN] = int(time.time())


def init_app(app: Flask) -> None:
    from .views import bp

    # A signed cookie older than the idle limit is not even read (Flask's default is 31 days).
    app.permanent_session_lifetime = timedelta(hours=app.config["SESSION_IDLE_HOURS"])
    user_logged_in.connect(_note_login, app)
    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    login_manager.session_protection = "basic"
    app.register_blueprint(bp)
