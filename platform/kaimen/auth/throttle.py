"""Login throttling per (username, address) pair, with a slower limit per username.

A login attempt is counted *before* its password is checked, with one atomic upsert
(``INSERT … ON CONFLICT DO UPDATE … RETURNING``), or one Redis script when
``KAIMEN_REDIS_URL`` is set, so parallel requests on any number of workers check at most
the limit; a success takes its attempt back. Known and unknown
names are counted alike, so both get the same answers. Locking the pair means that
nobody can lock an account out by failing from elsewhere: a right password from an
address without failures gets through until the username's own, higher limit is reached.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any, cast

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.dialects import postgresql, sqlite

from ..addresses import address_key
from ..extensions import db
from ..timeutil import utcnow
from .models import LoginThrottle

EVERY_ADDRESS = ""  # the address of the row that counts a username's attempts from anywhere
FORGET_AFTER = timedelta(days=1)
# Both dialects have an atomic upsert with RETURNING; the platform runs on no other.
INSERTS: dict[str, Callable[[sa.Table], Any]] = {
    "postgresql": postgresql.insert,
    "sqlite": sqlite.insert,
}
THROTTLE = cast(sa.Table, LoginThrottle.__table__)
# Redis: count one attempt, and (re)start the lock minutes while the count is within the
# limit, so that a lock lasts from the attempt that reached the limit, as in the table.
REDIS_COUNT = """
local n = redis.call('INCR', KEYS[1])
if n <= tonumber(ARGV[1]) or redis.call('TTL', KEYS[1]) < 0 then
  redis.call('EXPIRE', KEYS[1], ARGV[2])
end
return n
"""
REDIS_TAKE_BACK = """
if tonumber(redis.call('GET', KEYS[1]) or '0') > 0 then redis.call('DECR', KEYS[1]) end
"""


def client_address() -> str:
    """Return the day's keyed hash of the request's address, as the rate limits see it.

    The table and Redis hold that, never the address (``kaimen.addresses``).
    """
    return address_key()


def reserve(username: str, address: str) -> bool:
    """Count a login attempt before its password is checked; False when it must be refused.

    Commits at once, so that other workers see the attempt.
    """
    config = current_app.config
    count = _count_in_redis if config["REDIS_URL"] else _count
    allowed = count(username, address, config["LOGIN_MAX_FAILURES"]) and count(
        username, EVERY_ADDRESS, config["LOGIN_USER_MAX_FAILURES"]
    )
    db.session.commit()
    return allowed


def succeeded(username: str, address: str) -> None:
    """Forget the pair's attempts, take this attempt back from the username's count, tidy up."""
    if current_app.config["REDIS_URL"]:
        client = _redis()
        client.delete(_redis_key(username, address))
        client.eval(REDIS_TAKE_BACK, 1, _redis_key(username, EVERY_ADDRESS))
        return
    table = THROTTLE
    db.session.execute(
        sa.delete(table).where(table.c.username == username, table.c.address == address)
    )
    db.session.execute(
        sa.update(table)
        .where(
            table.c.username == username,
            table.c.address == EVERY_ADDRESS,
            table.c.failures > 0,
        )
        .values(failures=table.c.failures - 1)
    )
    db.session.execute(sa.delete(table).where(table.c.last_failure_at < utcnow() - FORGET_AFTER))


def _count(username: str, address: str, limit: int) -> bool:
    """Add one attempt to a counter atomically; tell whether it is within ``limit``."""
    table = THROTTLE
    now = utcnow()
    lock = timedelta(minutes=current_app.config["LOGIN_LOCK_MINUTES"])
    # In ON CONFLICT DO UPDATE, the table's columns are the row already stored.
    expired = sa.or_(
        table.c.locked_until <= now,
        sa.and_(table.c.locked_until.is_(None), table.c.last_failure_at < now - lock),
    )
    failures = sa.case((expired, 1), else_=table.c.failures + 1)
    locked_until = sa.case(
        (table.c.locked_until > now, table.c.locked_until),
        (failures >= limit, now + lock),
        else_=None,
    )
    insert = INSERTS[db.session.get_bind().dialect.name](table).values(
        username=username,
        address=address,
        failures=1,
        last_failure_at=now,
        locked_until=now + lock if limit <= 1 else None,
    )
    statement = insert.on_conflict_do_update(
        index_elements=[table.c.username, table.c.address],
        set_={"failures": failures, "locked_until": locked_until, "last_failure_at": now},
    ).returning(table.c.failures)
    return db.session.execute(statement).scalar_one() <= limit



def _count_in_redis(username: str, address: str, limit: int) -> bool:
    """Add one attempt to a Redis counter atomically; tell whether it is within ``limit``."""
    seconds = current_app.config["LOGIN_LOCK_MINUTES"] * 60
    count = _redis().eval(REDIS_COUNT, 1, _redis_key(username, address), limit, seconds)
    return int(count) <= limit


def _redis_key(username: str, address: str) -> str:
    # the address's length first, so that no username and address pair reads as another
    prefix = current_app.config.get("RATELIMIT_KEY_PREFIX") or ""
    return f"{prefix}kaimen:login:{len(address)}:{address}:{username}"


def _redis() -> Any:
    """Return the app's Redis client, made once."""
    extensions = current_app.extensions
    if "kaimen_login_redis" not in extensions:
        import redis  # only needed when configured (the "redis" extra)

        extensions["kaimen_login_redis"] = redis.Redis.from_url(current_app.config["REDIS_URL"])
    return extensions["kaimen_login_redis"]
