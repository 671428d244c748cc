"""Accounts, role grants and permissions."""

from __future__ import annotations

from flask import Flask

from ..extensions import db, login_manager
from .models import User


@login_manager.user_loader
def _load_user(session_id: str) -> User | None:
    """Return the user of a session id ``<id>.<version>``, or None when it is stale."""
    user_id, _, version = session_id.partition(".")
    if not (user_id.isdigit() and version.isdigit()):
        return None
    user = db.session.get(User, int(user_id))
    if user is None or not user.active or user.session_version != int(version):
        return None
    return user


def init_app(app: Flask) -> None:
    from .views import bp

    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    login_manager.session_protection = "basic"
    app.register_blueprint(bp)
