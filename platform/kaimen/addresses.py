"""Client addresses, kept only as a keyed hash that changes every day.

Rate limits and the login throttle need to tell one sender from another, not to
know where anyone came from. They key on ``address_key()``: HMAC-SHA256 of the
day number and the address, under a key derived from ``KAIMEN_ADDRESS_KEY`` (or
the secret key), cut to 128 bits. The address itself never reaches Redis or the
database, and tomorrow's key of the same address cannot be linked to today's
without the key.
"""

from __future__ import annotations

import hashlib
import hmac
import time

from flask import current_app, request

SECONDS_PER_DAY = 86400
KEY_HEX_CHARS = 32  # 128 bits: no collisions among one day's senders


def day_number() -> int:
    """Return the number of UTC days since 1970-01-01: the day the hash key is for."""
    return int(time.time() // SECONDS_PER_DAY)


def _base_key() -> bytes:
    config = current_app.config
    secret = str(config.get("ADDRESS_KEY") or config["SECRET_KEY"]).encode()
    return hmac.new(secret, b"kaimen client address", hashlib.sha256).digest()


def address_key(address: str | None = None, day: int | None = None) -> str:
    """Return the day's keyed hash of ``address`` (by default the request's sender)."""
    if address is None:
        address = request.remote_addr or ""
    day = day_number() if day is None else day
    day_key = hmac.new(_base_key(), f"day:{day}".encode(), hashlib.sha256).digest()
    return hmac.new(day_key, address.encode(), hashlib.sha256).hexdigest()[:KEY_HEX_CHARS]
