"""Translated error pages."""

from __future__ import annotations

from typing import Any

from flask import Flask, render_template
from flask_babel import lazy_gettext as _l
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException, InternalServerError

from ..extensions import db

MESSAGES = {
    400: (_l("Bad request"), _l("The request could not be understood. Go back and try again.")),
    403: (_l("No access"), _l("Your account does not have the right to open this page.")),
    404: (_l("Page not found"), _l("There is no such page. Check the address.")),
    405: (_l("Not possible"), _l("This page cannot be used that way.")),
    413: (
        _l("Too large"),
        _l("What you sent is larger than allowed. Send smaller files, or fewer at once."),
    ),
    429: (
        _l("Too many requests"),
        _l("Too many attempts in a short time. Wait a while and try again."),
    ),
    500: (
        _l("Something went wrong"),
        _l("An error occurred on our side. Nothing was saved; try again later."),
    ),
}


def render_error(code: int, detail: Any = None) -> tuple[str, int]:
    title, message = MESSAGES.get(code, MESSAGES[500])
    return render_template(
        "kaimen/error.html", code=code, title=title, message=detail or message
    ), code


def _http_error(error: HTTPException) -> Any:
    if error.response is not None:
        # A response made for this very refusal (a rate limit's ``on_breach`` that shows
        # the form again with what was typed) says more than the generic page.
        return error.response
    if isinstance(error, CSRFError):
        return render_error(
            400, _l("This form has expired. Go back, reload the page and try again.")
        )
    return render_error(error.code or 500)


def _server_error(error: Exception) -> Any:
    db.session.rollback()
    return render_error(500)


def init_app(app: Flask) -> None:
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(InternalServerError, _server_error)
