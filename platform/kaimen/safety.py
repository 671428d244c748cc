"""Small guards shared by views: safe redirects, and request values without NUL."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from flask import Request
from werkzeug.datastructures import ImmutableMultiDict


def _without_nul(value: Any) -> Any:
    return value.replace("\x00", "") if isinstance(value, str) else value


class CleanParameters(ImmutableMultiDict):  # type: ignore[type-arg]
    """Query-string and form values with every NUL character removed.

    No text a person types contains NUL, and PostgreSQL refuses it in any text
    parameter: one ``%00`` in a login name, a search or a form field would
    otherwise end in a server error instead of the page's ordinary answer.
    """

    def __init__(self, mapping: Any = None) -> None:
        if isinstance(mapping, list):
            mapping = [(_without_nul(key), _without_nul(value)) for key, value in mapping]
        super().__init__(mapping)


class KaimenRequest(Request):
    """The app's request: its ``args`` and ``form`` never carry NUL characters."""

    parameter_storage_class = CleanParameters


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
