"""Logging in and out, and the user's own account page."""

from __future__ import annotations

from typing import Any

from flask import (
    Blueprint,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import gettext as _
from flask_babel import ngettext
from flask_login import current_user, login_user, logout_user

from .. import audit
from ..extensions import db, limiter
from ..safety import safe_next
from . import throttle
from .access import login_required, public
from .forms import LoginForm, PasswordForm, PreferencesForm
from .models import authenticate
from .passwords import MIN_PASSWORD

bp = Blueprint("auth", __name__)


def _login_ip_limit() -> str:
    return current_app.config["LOGIN_IP_LIMIT"]


def _home_for(user: Any) -> str:
    """Return where ``user`` lands: school staff at their desk, bureau staff on their view."""
    for org in user.organisations():
        if org.is_school:
            return url_for("core.school_desk", school=org.slug)
        return url_for("core.bureau_home", bureau=org.slug)
    return url_for("core.directory")


@bp.route("/login", methods=["GET", "POST"])
@public
@limiter.limit(_login_ip_limit, methods=["POST"], deduct_when=lambda r: r.status_code != 302)
def login() -> Any:
    """Log a member of staff in with username and password."""
    form = LoginForm(next=request.args.get("next", ""))
    if form.validate_on_submit():
        username = (form.username.data or "").strip().lower()
        address = throttle.client_address()
        if not throttle.reserve(username, address):
            # one message for every lock, known name or not, so it tells nothing
            flash(
                ngettext(
                    "Too many failed attempts. Wait %(num)d minute and try again.",
                    "Too many failed attempts. Wait %(num)d minutes and try again.",
                    current_app.config["LOGIN_LOCK_MINUTES"],
                ),
                "error",
            )
            return render_template("kaimen/login.html", form=form), 429
        user = authenticate(username, form.password.data or "")
        if user is None:
            flash(_("Wrong username or password."), "error")
            return render_template("kaimen/login.html", form=form), 200
        throttle.succeeded(username, address)
        session.clear()  # a fresh session for the new identity
        login_user(user)
        bureau = _audit_bureau(user)
        if bureau is not None:
            audit.record("account.login", user, bureau=bureau, actor=user)
        db.session.commit()
        return redirect(safe_next(form.next.data) or _home_for(user))
    return render_template("kaimen/login.html", form=form)


def _audit_bureau(user: Any) -> Any:
    orgs = user.organisations()
    return orgs[0].bureau() if orgs else None


@bp.post("/logout")
@login_required
def logout() -> Any:
    """End the session, and every copy of its cookie, wherever it was saved."""
    user = current_user._get_current_object()
    user.session_version += 1  # the id every live session carries no longer matches
    bureau = _audit_bureau(user)
    if bureau is not None:
        audit.record("account.logout", user, bureau=bureau, actor=user)
    db.session.commit()
    logout_user()
    session.clear()
    flash(_("You have logged out."), "info")
    return redirect(url_for("core.directory"))


@bp.route("/account", methods=["GET", "POST"])
@login_required
def account() -> Any:
    """Let users change their password and language."""
    password_form = PasswordForm(prefix="pw")
    preferences = PreferencesForm(prefix="pref", locale=current_user.locale or "")
    if request.method == "POST" and "pw-new" in request.form:
        if password_form.validate_on_submit():
            if not current_user.check_password(password_form.current.data or ""):
                password_form.current.errors = [_("The current password is wrong.")]
            else:
                current_user.set_password(password_form.new.data)
                bureau = _audit_bureau(current_user)
                if bureau is not None:
                    audit.record("account.password_changed", current_user, bureau=bureau)
                db.session.commit()
                session.clear()
                # this session goes on; every other one ends (log in the user, not the proxy)
                login_user(current_user._get_current_object())
                flash(_("Your password was changed. Other sessions have been logged out."), "info")
                return redirect(url_for(".account"))
    elif request.method == "POST" and preferences.validate_on_submit():
        current_user.locale = preferences.locale.data or None
        db.session.commit()
        flash(_("Your preferences were saved."), "info")
        response = redirect(url_for(".account"))
        response.delete_cookie("kaimen_locale")
        return response
    return render_template(
        "kaimen/account.html",
        password_form=password_form,
        preferences=preferences,
        min_password=MIN_PASSWORD,
    )
