"""Receipt codes: how a parent without an account follows what they submitted.

A code carries 100 random bits, written as 20 Crockford base-32 characters in
five groups of four (easy to read aloud: no I, L, O or U). Only a keyed hash
(HMAC-SHA256 with the app's secret key) is stored, so a stolen database
reveals no codes.

A form that issues a receipt may carry a one-time token (``ReceiptTokenMixin``)
so that sending it twice (a double click, a retry on a bad network) files once
and shows the same code again: ``issue(..., token=...)`` keeps the token's keyed
hash and the code sealed with the token, and ``replay`` returns them. Only a
request that carries the token can unseal the code.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.orm import Mapped, mapped_column
from wtforms import HiddenField

from .extensions import Model, db
from .timeutil import coarse_now

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
GROUPS, GROUP_SIZE = 5, 4
_READING_MISTAKES = str.maketrans({"O": "0", "I": "1", "L": "1", "U": "V"})
TOKEN_PATTERN = re.compile(r"[A-Za-z0-9_-]{20,64}")


class Receipt(Model):
    """The keyed hash of a receipt code and what it leads to."""

    __tablename__ = "receipt"
    # A receipt shows on no public form (``kaimen.pagecache``'s form version).
    form_neutral = True
    __table_args__ = (sa.UniqueConstraint("plugin", "school_id", "token_hash"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    code_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    plugin: Mapped[str] = mapped_column(sa.String(64))
    object_id: Mapped[int]
    school_id: Mapped[int] = mapped_column(sa.ForeignKey("organisation.id"), index=True)
    # to the minute, like everything the public sends (kaimen.timeutil.coarse_now)
    created_at: Mapped[datetime] = mapped_column(default=coarse_now)
    # The keyed hash of the one-time token of the form that asked for the receipt,
    # and the code sealed with that token, so only a retry carrying it sees the code.
    token_hash: Mapped[str | None] = mapped_column(sa.String(64))
    sealed_code: Mapped[str | None] = mapped_column(sa.String(64))


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


def _keyed(purpose: str, value: str) -> bytes:
    key = current_app.config["SECRET_KEY"].encode()
    return hmac.new(key, f"{purpose}:{value}".encode(), hashlib.sha256).digest()


def _keyed_hash(canonical: str) -> str:
    return _keyed("kaimen-receipt", canonical).hex()


def _token_hash(token: str) -> str:
    return _keyed("kaimen-receipt-token", token).hex()


def _xor(data: bytes, pad: bytes) -> bytes:
    return bytes(a ^ b for a, b in zip(data, pad, strict=False))


def _seal(canonical: str, token: str) -> str:
    return _xor(canonical.encode(), _keyed("kaimen-receipt-seal", token)).hex()


def _unseal(sealed: str, token: str) -> str:
    raw = _xor(bytes.fromhex(sealed), _keyed("kaimen-receipt-seal", token)).decode()
    return "-".join(raw[i : i + GROUP_SIZE] for i in range(0, len(raw), GROUP_SIZE))


def issue(plugin: str, object_id: int, school_id: int, token: str | None = None) -> str:
    """Create a receipt in the caller's transaction and return its code, shown once.

    With the form's one-time ``token``, a second submission of the same form can get
    the code back from ``replay``; the same token twice for one plugin and school
    fails the transaction (an ``IntegrityError`` at flush), so one of two racing
    submissions wins and the other may ``replay`` it.
    """
    code = new_code()
    canonical = normalise(code)
    assert canonical is not None
    db.session.add(
        Receipt(
            code_hash=_keyed_hash(canonical),
            plugin=plugin,
            object_id=object_id,
            school_id=school_id,
            token_hash=_token_hash(token) if token else None,
            sealed_code=_seal(canonical, token) if token else None,
        )
    )
    return code


def replay(plugin: str, school_id: int, token: str) -> tuple[int, str] | None:
    """Return ``(object id, code)`` that an earlier submission with ``token`` got, or None."""
    if not token:
        return None
    receipt = db.session.scalar(
        sa.select(Receipt).where(
            Receipt.plugin == plugin,
            Receipt.school_id == school_id,
            Receipt.token_hash == _token_hash(token),
        )
    )
    if receipt is None or receipt.sealed_code is None:
        return None
    return receipt.object_id, _unseal(receipt.sealed_code, token)


def lookup(code: str) -> Receipt | None:
    """Return the receipt for ``code``, or None when it is malformed or unknown."""
    canonical = normalise(code)
    if canonical is None:
        return None
    return db.session.scalar(sa.select(Receipt).where(Receipt.code_hash == _keyed_hash(canonical)))


def new_token() -> str:
    """Return a fresh one-time submission token (``ReceiptTokenMixin``)."""
    return secrets.token_urlsafe(24)


class ReceiptTokenMixin:
    """A FlaskForm mixin: the hidden one-time ``token`` that makes a submission idempotent.

    Put it before ``FlaskForm`` in the bases. Call ``submitted_token()`` in the view: it
    returns the well-formed token the form came back with, or None after putting a
    fresh one in the form (a first visit, or a token someone tampered with).
    """

    token = HiddenField(filters=[lambda value: value.strip() if isinstance(value, str) else value])

    def submitted_token(self) -> str | None:
        """Return the form's well-formed token, or None after giving the form a fresh one."""
        field: Any = self.token
        if isinstance(field.data, str) and TOKEN_PATTERN.fullmatch(field.data):
            return str(field.data)
        field.data = new_token()
        return None
