"""Answers read once: per request (``once``), or per worker under versions (``kept``).

``once`` keeps an answer on the request, not on ``g``: an app context can outlive many
requests (a command, a test), and a scope must never come from another request's answer.
Outside a request every question is read. Any flush has the request's answers read afresh.

``kept`` keeps an answer in this worker under a key that names every version it depends on
(``pagecache.people_mark()``, a school's version), so what a key holds never changes: a
write makes a new key, and the old entry ages out. A timeout backs up the writes that no
version sees (raw SQL).
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any, TypeVar

from flask import has_request_context, request
from sqlalchemy import event
from sqlalchemy.orm import Session

T = TypeVar("T")
_KNOWN = "kaimen_read_once"

KEPT_MAX = 64  # answers per worker; each is a bureau's worth at most (a thousand schools)
_kept: OrderedDict[Hashable, tuple[float, Any]] = OrderedDict()
_lock = threading.Lock()


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


def kept(key: Hashable, read: Callable[[], T], seconds: float) -> T:
    """Return ``read()``, kept in this worker under ``key`` for ``seconds`` at most.

    ``key`` must name every version the answer depends on. Callers must not change what
    they are handed: the next caller gets the same object.
    """
    now = time.monotonic()
    with _lock:
        held = _kept.get(key)
        if held is not None and held[0] > now:
            _kept.move_to_end(key)
            return held[1]  # type: ignore[no-any-return]
    value = read()
    with _lock:
        _kept[key] = (now + seconds, value)
        _kept.move_to_end(key)
        while len(_kept) > KEPT_MAX:
            _kept.popitem(last=False)
    return value


def forget() -> None:
    """Forget every answer kept in this worker."""
    with _lock:
        _kept.clear()
