"""Per-request plumbing: load the URL's organisation, set the scope, add headers."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Flask, abort, current_app, g, request
from flask_login import current_user

from .. import orgs, pagecache, plugins, tenancy
from . import pages

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
)
# No page uses a device or a sensor; a script injected anyway may not ask for one either.
PERMISSIONS_POLICY = (
    "accelerometer=(), camera=(), display-capture=(), geolocation=(), gyroscope=(), "
    "magnetometer=(), microphone=(), midi=(), payment=(), usb=()"
)
# Sent only when the public address is https: browsers then refuse plain http for a year.
STRICT_TRANSPORT_SECURITY = "max-age=31536000"


def _load_org(endpoint: str | None, values: dict[str, Any] | None) -> None:
    """Turn ``<school>`` or ``<bureau>`` in the URL into ``g.org``; 404 when unknown."""
    tenancy.set_scope(())  # nothing of any school until ``_set_scope`` knows better
    if not values or pagecache.found_in_cache():
        return
    for key, kind in (("school", orgs.SCHOOL), ("bureau", orgs.BUREAU)):
        if key in values:
            org = orgs.find(values.pop(key), kind)
            if org is None:
                abort(404)
            g.org = org
            setattr(g, key, org)


def _fill_org(endpoint: str, values: dict[str, Any]) -> None:
    """Let ``url_for`` omit the current school or bureau."""
    for key in ("school", "bureau"):
        if (
            key not in values
            and key in g
            and current_app.url_map.is_endpoint_expecting(endpoint, key)
        ):
            values[key] = g.get(key).slug


def _set_scope() -> None:
    """Scope the request to the URL's organisation; a bureau's own staff also reach its schools.

    A bureau owns rows of its own as a school does (its own rectification plan): they are
    in scope on the bureau's pages, for everyone, as a school's rows are on the school's
    pages; the views decide what of them is public.
    """
    school, bureau = g.get("school"), g.get("bureau")
    if school is not None:
        tenancy.set_scope({school.id})
    elif bureau is not None:
        scope = {bureau.id}
        if current_user.is_authenticated and current_user.roles_on(bureau):
            scope |= orgs.school_ids_under(bureau)
        tenancy.set_scope(scope)
    else:
        tenancy.set_scope(())


def _enforce_enablement() -> None:
    """Answer 404 for a plugin's pages in a school where it is switched off."""
    school = g.get("school")
    if school is None:
        return
    name = plugins.plugin_of_blueprint(request.blueprint)
    if name is not None and not plugins.is_enabled(name, school):
        abort(404)


SECURITY_HEADERS: tuple[tuple[str, str], ...] = (
    ("Content-Security-Policy", CONTENT_SECURITY_POLICY),
    ("Permissions-Policy", PERMISSIONS_POLICY),
    ("X-Content-Type-Options", "nosniff"),
    ("X-Frame-Options", "DENY"),
    ("Referrer-Policy", "same-origin"),
)


class SecurityHeaders:
    """A WSGI layer that adds every security header a response did not set itself, as it
    leaves: Flask's pages, the page cache's front, errors and static files alike.

    In an ``after_request`` hook werkzeug checked each value as it was added (~9 µs a
    request); here the constant headers join the list the response leaves with.
    """

    def __init__(self, app: Flask, wsgi_app: Callable[..., Any]) -> None:
        self.app = app
        self.wsgi_app = wsgi_app
        self._https = SECURITY_HEADERS + (
            ("Strict-Transport-Security", STRICT_TRANSPORT_SECURITY),)

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        wanted = (self._https if self.app.config["BASE_URL"].startswith("https://")
                  else SECURITY_HEADERS)

        def start(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            present = {name.lower() for name, _ in headers}
            return start_response(status, headers + [
                (name, value) for name, value in wanted if name.lower() not in present],
                exc_info)

        return self.wsgi_app(environ, start)


def init_app(app: Flask) -> None:
    app.url_value_preprocessor(_load_org)
    app.url_defaults(_fill_org)
    app.before_request(_set_scope)
    app.before_request(_enforce_enablement)
    app.wsgi_app = SecurityHeaders(app, app.wsgi_app)  # type: ignore[method-assign]
    pages.init_app(app)
