"""The page rule: which responses may be cached, and the helpers plugins render with.

A response is marked ``Cache-Control: no-store`` here and nowhere else when it is
private: the view is not ``public``, a user is logged in, or the view said so with
``private()`` (a receipt code, a parent's own registration). Public pages for
anonymous visitors stay cacheable.
"""

from __future__ import annotations

from typing import Any

from flask import Flask, current_app, g, make_response, render_template, request, session
from flask_babel import gettext as _
from flask_login import current_user
from flask_wtf import FlaskForm
from jinja2 import pass_context
from markupsafe import Markup

from ..auth.access import access_markers
from ..plugins import Panel


def private() -> None:
    """Mark the current response as personal: never stored by a browser or a proxy."""
    g.kaimen_private = True


def render_private(template: str, status: int = 200, **context: Any) -> Any:
    """Render ``template`` as a personal page (``private()``) and return the response."""
    private()
    return make_response(render_template(template, **context), status)


def render_panel(title: Any, template: str, order: int = 50, **context: Any) -> Panel:
    """Render a plugin's panel for the school's public page from its template."""
    html = Markup(render_template(template, **context))  # noqa: S704 - the template escapes
    return Panel(title, html, order=order)


def _is_private() -> bool:
    endpoint = request.endpoint or ""
    if endpoint == "static" or endpoint.endswith(".static"):
        return False  # the same files for everyone
    if g.get("kaimen_private"):
        return True
    view = current_app.view_functions.get(endpoint)
    if view is not None and "public" not in access_markers(view):
        return True
    return logged_in()


def logged_in() -> bool:
    """Return whether a user is logged in, without loading one when the session has none."""
    if "_login_user" not in g and "_user_id" not in session:
        return False  # Flask-Login keeps the user's id there; no id, no user
    return bool(getattr(current_user, "is_authenticated", False))


def _cache_rule(response: Any) -> Any:
    if _is_private():
        response.headers["Cache-Control"] = "no-store"
    return response


def init_app(app: Flask) -> None:
    app.after_request(_cache_rule)
    app.jinja_env.globals.update(field_aria=field_aria, error_title_prefix=error_title_prefix)
    app.jinja_env.filters["html_time"] = html_time


def field_aria(field: Any, hint: Any = None) -> dict[str, str]:
    """Return the ARIA attributes of a form field: only those that apply, never "None"."""
    described = [f"{field.id}-hint"] if hint else []
    described += [
        f"{field.id}-error" + ("" if index == 0 else f"-{index + 1}")
        for index in range(len(field.errors))
    ]
    attrs = {"aria-describedby": " ".join(described)} if described else {}
    if field.errors:
        attrs["aria-invalid"] = "true"
    return attrs


@pass_context
def error_title_prefix(context: Any) -> str:
    """Return "Error: " for the page title when a form on the page has errors."""
    for value in context.get_all().values():
        if isinstance(value, FlaskForm) and value.errors:
            return str(_("Error: "))
    return ""


def html_time(moment: Any) -> str:
    """Return a naive UTC datetime as an HTML ``datetime`` value, to the second."""
    return moment.replace(microsecond=0).isoformat() + "Z"
