"""Answers read once per request: the same question asked again in one request is not
sent to the database again, and any flush in the meantime has it read afresh.

Kept on the request, not on ``g``: an app context can outlive many requests (a command,
a test), and a scope must never come from another request's answer. Outside a request
every question is read.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import TypeVar

from flask import has_request_context, request
from sqlalchemy import event
from sqlalchemy.orm import Session

T = TypeVar("T")
_KNOWN = "kaimen_read_once"


def once(key: Hashable, read: Callable[[], T]) -> T:
    """Return ``read()``, asked once per request for the same ``key``."""
    if not has_request_context():
        return read()
    known: dict[Hashable, T] = request.__dict__.setdefault(_KNOWN, {})
    if key not in known:
        known[key] = read()
    return known[key]


@event.listens_for(Session, "after_flush")
def _forget(_session: Session, _context: object) -> None:
    if has_request_context():
        request.__dict__.pop(_KNOWN, None)
