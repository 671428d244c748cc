"""Receipt codes: how a parent without an account follows what they submitted.

A code carries 100 random bits, written as 20 Crockford base-32 characters in
five groups of four (easy to read aloud: no I, L, O or U). Only a keyed hash
(HMAC-SHA256 with the app's secret key) is stored, so a stolen database
reveals no codes.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.orm import Mapped, mapped_column

from .extensions import Model, db
from .timeutil import utcnow

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
GROUPS, GROUP_SIZE = 5, 4
_READING_MISTAKES = str.maketrans({"O": "0", "I": "1", "L": "1", "U": "V"})


class Receipt(Model):
    """The keyed hash of a receipt code and what it leads to."""

    __tablename__ = "receipt"

    id: Mapped[int] = mapped_column(primary_key=True)
    code_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    plugin: Mapped[str] = mapped_column(sa.String(64))
    object_id: Mapped[int]
    school_id: Mapped[int] = mapped_column(sa.ForeignKey("organisation.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


def new_code() -> str:
    """Return a fresh code such as ``7K3M-Q9XD-2HBT-RW4A-NC8E``."""
    raw = "".join(secrets.choice(ALPHABET) for _ in range(GROUPS * GROUP_SIZE))
    return "-".join(raw[i : i + GROUP_SIZE] for i in range(0, len(raw), GROUP_SIZE))


def normalise(code: str) -> str | None:
    """Return the code's canonical characters, forgiving case, spaces and look-alikes."""
    cleaned = "".join(ch for ch in code.upper() if ch.isalnum()).translate(_READING_MISTAKES)
    if len(cleaned) != GROUPS * GROUP_SIZE or any(ch not in ALPHABET for ch in cleaned):
        return None
    return cleaned


def _keyed_hash(canonical: str) -> str:
    key = current_app.config["SECRET_KEY"].encode()
    return hmac.new(key, b"kaimen-receipt:" + canonical.encode(), hashlib.sha256).hexdigest()


def issue(plugin: str, object_id: int, school_id: int) -> str:
    """Create a receipt in the caller's transaction and return its code, shown once."""
    code = new_code()
    canonical = normalise(code)
    assert canonical is not None
    db.session.add(
        Receipt(
            code_hash=_keyed_hash(canonical),
            plugin=plugin,
            object_id=object_id,
            school_id=school_id,
        )
    )
    return code


def lookup(code: str) -> Receipt | None:
    """Return the receipt for ``code``, or None when it is malformed or unknown."""
    canonical = normalise(code)
    if canonical is None:
        return None
    return db.session.scalar(sa.select(Receipt).where(Receipt.code_hash == _keyed_hash(canonical)))
