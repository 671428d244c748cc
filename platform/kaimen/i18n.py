"""Locale and time-zone selection for Flask-Babel."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from datetime import date
from typing import Any

from flask import current_app, g, has_request_context, request
from flask_login import current_user

LOCALES = ("zh_Hans", "en")
LOCALE_COOKIE = "kaimen_locale"
LOCALE_NAMES = {"zh_Hans": "中文", "en": "English"}


def _from_language_tag(tag: str) -> str | None:
    tag = tag.lower().replace("_", "-")
    if tag.startswith("zh"):
        return "zh_Hans"
    if tag.startswith("en"):
        return "en"
    return None


def select_locale() -> str:
    """Pick the locale: explicit choice, then the user's, then the browser's, then the bureau's."""
    if not has_request_context():  # a command: messages in the platform's default language
        return current_app.config["DEFAULT_LOCALE"]
    chosen = request.cookies.get(LOCALE_COOKIE)
    if chosen in LOCALES:
        return chosen
    if current_user and getattr(current_user, "is_authenticated", False):
        if current_user.locale in LOCALES:
            return current_user.locale
    org = g.get("org")
    return visitor_locale(lambda: org.bureau().default_locale if org is not None else None)


def visitor_locale(bureau_locale: Callable[[], str | None], asked: Any = None) -> str:
    """Pick the locale of a visitor who chose none: the browser's, the bureau's, the default.

    ``bureau_locale`` is only called when the browser names no language we have. ``asked``
    is the request, when it is not Flask's current one (the page cache's WSGI front).
    """
    asked = request if asked is None else asked
    chosen = asked.cookies.get(LOCALE_COOKIE)
    if chosen in LOCALES:
        return chosen
    for tag, _quality in asked.accept_languages:
        locale = _from_language_tag(tag)
        if locale is not None:
            return locale
    default = bureau_locale()
    if default in LOCALES:
        return default  # type: ignore[return-value]
    return current_app.config["DEFAULT_LOCALE"]  # type: ignore[no-any-return]


def select_timezone() -> str:
    """Show times in the time zone of the bureau the page belongs to."""
    org = g.get("org")
    if org is not None:
        return org.bureau().timezone
    return current_app.config["DEFAULT_TIMEZONE"]


@functools.cache
def wtforms_catalogue(locale: str) -> Any:
    """Return WTForms' own translations for ``locale``, loaded once per process."""
    from babel import support
    from wtforms.i18n import messages_path

    return support.Translations.load(messages_path(), [locale], domain="wtforms")


def name_list(names: Iterable[str]) -> str:
    """Return names as a list in words of the page's locale: "甲、乙和丙", "A, B, and C"."""
    from babel.lists import format_list
    from flask_babel import get_locale

    names = list(names)
    locale = get_locale() or current_app.config["DEFAULT_LOCALE"]
    return format_list(names, locale=str(locale)) if names else ""


@functools.lru_cache(maxsize=4096)
def _formatted_day(day: date, pattern: str | None, locale: str) -> str:
    from flask_babel import format_date

    return str(format_date(day, pattern))


def dateformat(value: Any = None, format: str | None = None, rebase: bool = True) -> str:  # noqa: A002 - Flask-Babel's name
    """Format a date as Flask-Babel's ``dateformat`` filter does, each day once per locale.

    Babel builds the pattern anew on every call (about 0.1 ms); a list of 25 cases shows 50
    dates, of a few days. A day has no time zone, so only its locale and pattern matter;
    a date and time goes to Flask-Babel every time (it is shown in the reader's zone).
    """
    from flask_babel import format_date, get_locale

    if type(value) is date:
        return _formatted_day(value, format, str(get_locale()))
    return str(format_date(value, format, rebase))
