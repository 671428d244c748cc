"""Small guards shared by views: safe redirects, request values without NUL, bounded ids."""

from __future__ import annotations

from functools import cached_property
from typing import Any
from urllib.parse import urlsplit

from flask import Request, Response, request
from flask_babel import get_locale, gettext
from werkzeug.datastructures import ImmutableMultiDict
from werkzeug.exceptions import SecurityError
from werkzeug.routing import IntegerConverter, UnicodeConverter

# The largest id a primary key holds: PostgreSQL's ``integer``. A larger number in a URL
# would reach the database as an out-of-range parameter (PostgreSQL refuses past 2**31-1,
# SQLite's driver past 2**63) and end in a server error instead of "not found".
MAX_ID = 2**31 - 1

# NUL, which PostgreSQL refuses in text, and the bidirectional embedding, override and
# isolate controls, which make a name or title display as something else than it says.
_INVISIBLE = dict.fromkeys(
    [0x00, *range(0x202A, 0x202F), *range(0x2066, 0x206A)], None
)


def _cleaned(value: Any) -> Any:
    return value.translate(_INVISIBLE) if isinstance(value, str) else value


class CleanParameters(ImmutableMultiDict):  # type: ignore[type-arg]
    """Query-string and form values with every NUL and bidi control character removed.

    No text a person types contains NUL, and PostgreSQL refuses it in any text
    parameter: one ``%00`` in a login name, a search or a form field would
    otherwise end in a server error instead of the page's ordinary answer. Bidi
    controls (U+202A-U+202E, U+2066-U+2069) let a name or title read backwards
    ("Trojan Source"); line breaks stay, so multi-line text keeps its lines.
    """

    def __init__(self, mapping: Any = None) -> None:
        if isinstance(mapping, list):
            mapping = [(_cleaned(key), _cleaned(value)) for key, value in mapping]
        super().__init__(mapping)


class KaimenRequest(Request):
    """The app's request: its ``args`` and ``form`` carry no NUL or bidi controls."""

    parameter_storage_class = CleanParameters

    @cached_property
    def wtforms_translations(self) -> Any:
        """WTForms' own messages in the page's locale (Flask-WTF reads this attribute).

        Flask-WTF would parse WTForms' catalogue again for every request that shows a
        form; the catalogue is loaded once per locale instead.
        """
        from .i18n import wtforms_catalogue

        return wtforms_catalogue(str(get_locale()))


class IdConverter(IntegerConverter):
    """``<int:…>`` in every route: a positive id that fits the column, or no match (404)."""

    def __init__(self, url_map: Any, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("min", 1)
        kwargs.setdefault("max", MAX_ID)
        super().__init__(url_map, *args, **kwargs)


class SegmentConverter(UnicodeConverter):
    """``<slug>`` in every route: one path segment without NUL, or no match (404)."""

    def __init__(self, url_map: Any, *args: Any, **kwargs: Any) -> None:
        super().__init__(url_map, *args, **kwargs)
        self.regex = self.regex.replace("[^/]", "[^/\\x00]", 1)


# Registered as the app's own converters before any route is added.
CONVERTERS = {"int": IdConverter, "default": SegmentConverter, "string": SegmentConverter}


def refuse_untrusted_host() -> Response | None:
    """Answer 400, before any other hook, a request whose Host is not in ``TRUSTED_HOSTS``.

    Flask leaves the URL adapter unset for such a request, so no page (not even the
    error page, which builds URLs) can be rendered for it; nothing of the host is echoed.
    """
    if isinstance(request.routing_exception, SecurityError):
        message = gettext("The request could not be understood. Go back and try again.")
        return Response(message, status=400, mimetype="text/plain")
    return None


def parse_id(value: str | None) -> int | None:
    """Return ``value`` as an id (ASCII digits, 1 to ``MAX_ID``), else None."""
    if not value or not value.isascii() or not value.isdigit() or len(value) > 10:
        return None
    number = int(value)
    return number if 1 <= number <= MAX_ID else None


def id_arg(name: str) -> int | None:
    """Return the query argument ``name`` as an id, or None when absent or not a usable id."""
    return parse_id(request.args.get(name))


def safe_next(target: str | None) -> str | None:
    """Return ``target`` when it is a path on this site, else None (no open redirects)."""
    if not target:
        return None
    target = target.strip()
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return None
    if "\\" in target or any(ord(ch) < 32 for ch in target):
        return None
    return target
