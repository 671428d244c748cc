"""Settings: defaults overridden by ``KAIMEN_*`` environment variables."""

from __future__ import annotations

import hashlib
import hmac
import os
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

DEFAULT_SECRET_KEY = "kaimen-development-only-secret"  # noqa: S105 - refused outside debug/testing
MIN_SECRET_LENGTH = 32  # signs sessions and keys receipt hashes: at least 32 characters


class ConfigError(RuntimeError):
    """Raised when the settings would make the app unsafe or unusable."""


def _boolean(value: str) -> bool:
    return value.strip().lower() in {"1", "true", "yes", "on"}


# name -> (default, parser). Every setting can be set as KAIMEN_<NAME>.
SETTINGS: dict[str, tuple[Any, Any]] = {
    "SECRET_KEY": (DEFAULT_SECRET_KEY, str),
    "DATABASE_URL": (None, str),
    # A PostgreSQL streaming replica of DATABASE_URL: bureau-level GET pages read from it
    # (kaimen.replica); a user who just wrote reads from the primary for STICKY seconds;
    # a replica further behind than MAX_LAG seconds, or down, is passed over.
    "DATABASE_REPLICA_URL": (None, str),
    "REPLICA_STICKY_SECONDS": (10, int),
    "REPLICA_MAX_LAG_SECONDS": (30, float),
    "BASE_URL": ("http://127.0.0.1:5000", str),
    "ALLOWED_HOSTS": ("", str),
    "DEBUG": (False, _boolean),
    "TESTING": (False, _boolean),
    "DEFAULT_LOCALE": ("zh_Hans", str),
    "DEFAULT_TIMEZONE": ("Asia/Shanghai", str),
    "REDIS_URL": (None, str),
    # Public pages for anonymous visitors, cached per school version (kaimen.pagecache);
    # the seconds are a backstop for changes no flush sees.
    "PAGE_CACHE": (True, _boolean),
    "CACHE_SECONDS": (60, int),
    # Each school's umbrella figures, kept per school version and day (kaimen.figures);
    # the seconds are a backstop for changes no flush sees.
    "FIGURES_SECONDS": (3600, int),
    # Move what building the app allocated (modules, mappers, plugins) out of the garbage
    # collector's full walks, once the app is built (gc.freeze): ~90 ms of the umbrella's
    # p95 at 1,000 schools were those walks.
    "GC_FREEZE": (True, _boolean),
    # Objects made, net, before the collector's youngest generation is walked (Python's
    # default is 700). A view made again at 1,000 schools makes tens of thousands: at 700 it
    # set off ~36 young collections and a full one every few views (~20 ms a view), at
    # 10,000 about one (~6 ms). Higher saves more there but lets a small page's cyclic
    # garbage pile up into one long walk: at 50,000 a cached school page's p99 under wrk
    # went from 12-15 ms to 30-34 ms. 0 leaves Python's default.
    "GC_YOUNG": (10_000, int),
    "PROXY_COUNT": (0, int),
    "MAX_UPLOAD_MB": (30, int),
    # what one anonymous submission may upload in all (kaimen.uploads.read_uploads)
    "ANONYMOUS_UPLOAD_MB": (15, int),
    # the key of the daily hash of client addresses (kaimen.addresses); by default
    # derived from the secret key
    "ADDRESS_KEY": (None, str),
    "RATELIMIT_ENABLED": (True, _boolean),
    "LOGIN_MAX_FAILURES": (5, int),
    "LOGIN_LOCK_MINUTES": (15, int),
    # failures of one username from every address together, within the same minutes
    "LOGIN_USER_MAX_FAILURES": (20, int),
    "LOGIN_IP_LIMIT": ("30 per 15 minutes", str),
    "SESSION_IDLE_HOURS": (8.0, float),
    "MAIL_BACKEND": ("console", str),
    "MAIL_SENDER": ("kaimen@localhost", str),
    "SMTP_HOST": ("127.0.0.1", str),
    "SMTP_PORT": (25, int),
    "SMTP_USERNAME": (None, str),
    "SMTP_PASSWORD": (None, str),
    "SMTP_STARTTLS": (False, _boolean),
    "SMS_BACKEND": (None, str),
    "NOTIFY_MAX_ATTEMPTS": (5, int),
    "PLUGINS_DISABLED": ("", str),
    "AUDIT_KEY": (None, str),
    "AUDIT_CHECKPOINTS": (None, str),
    "AUDIT_SIGNING_KEY": (None, str),
    # Werkzeug's hashing method for new passwords. Production keeps the strong default;
    # the test suite sets a cheap one (KAIMEN_PASSWORD_METHOD) so it does not spend its
    # time hashing demo passwords.
    "PASSWORD_METHOD": ("scrypt", str),
}


def load(
    overrides: Mapping[str, Any] | None = None, environ: Mapping[str, str] | None = None
) -> dict:
    """Return the settings: defaults, then ``KAIMEN_*`` variables, then ``overrides``."""
    environ = os.environ if environ is None else environ
    settings: dict[str, Any] = {}
    for name, (default, parse) in SETTINGS.items():
        raw = environ.get(f"KAIMEN_{name}")
        settings[name] = parse(raw) if raw not in (None, "") else default
    settings.update(overrides or {})
    return settings


LOCAL_HOSTS = ("localhost", "127.0.0.1", "[::1]")


def trusted_hosts(settings: Mapping[str, Any]) -> list[str]:
    """Return the host names requests may carry: the base URL's, the extra allowed ones,
    and the loopback names in debug and testing."""
    hosts = [urlsplit(settings["BASE_URL"]).hostname or ""]
    hosts += [host.strip().lower() for host in settings["ALLOWED_HOSTS"].split(",")]
    if settings.get("DEBUG") or settings.get("TESTING"):
        hosts += LOCAL_HOSTS
    return list(dict.fromkeys(host for host in hosts if host))


def check_secret(settings: Mapping[str, Any]) -> None:
    """Refuse the development secret key, or a short one, outside debug and testing."""
    if settings.get("DEBUG") or settings.get("TESTING"):
        return
    if settings.get("SECRET_KEY") in (None, "", DEFAULT_SECRET_KEY):
        raise ConfigError(
            "KAIMEN_SECRET_KEY is not set: refusing to start with the development secret key. "
            "Set KAIMEN_SECRET_KEY to a long random value (or KAIMEN_DEBUG=1 for development)."
        )
    if len(str(settings["SECRET_KEY"])) < MIN_SECRET_LENGTH:
        raise ConfigError(
            f"KAIMEN_SECRET_KEY is shorter than {MIN_SECRET_LENGTH} characters: refusing to "
            "start with a key that can be guessed. Generate one with "
            "python -c 'import secrets; print(secrets.token_urlsafe(48))'."
        )


def check_replica(settings: Mapping[str, Any]) -> None:
    """Refuse a replica that is not PostgreSQL, or a replica of a database that is not."""
    replica = settings.get("DATABASE_REPLICA_URL")
    if not replica:
        return
    if float(settings.get("REPLICA_MAX_LAG_SECONDS") or 0) <= 0:
        raise ConfigError("KAIMEN_REPLICA_MAX_LAG_SECONDS must be a number of seconds above 0.")
    primary = settings.get("DATABASE_URL") or ""
    if not (primary.startswith("postgresql") and replica.startswith("postgresql")):
        raise ConfigError(
            "KAIMEN_DATABASE_REPLICA_URL needs PostgreSQL: it is a streaming replica of the "
            "PostgreSQL database in KAIMEN_DATABASE_URL."
        )


def check_audit_key(settings: Mapping[str, Any]) -> None:
    """Refuse to run without a real audit-chain key outside debug and testing.

    In debug and testing the key is derived from the secret key (see
    ``kaimen.audit.chain_key``); in production it must be its own secret, kept
    out of the database, or whoever can write the database could rehash the chain.
    """
    if settings.get("DEBUG") or settings.get("TESTING"):
        return
    key = settings.get("AUDIT_KEY") or ""
    if len(key) < MIN_SECRET_LENGTH:
        raise ConfigError(
            f"KAIMEN_AUDIT_KEY is not set or shorter than {MIN_SECRET_LENGTH} characters: "
            "the audit log's hash chain needs its own key, kept out of the database. Set "
            "KAIMEN_AUDIT_KEY to a long random value (or KAIMEN_DEBUG=1 for development)."
        )
    if key == settings.get("SECRET_KEY"):
        raise ConfigError("KAIMEN_AUDIT_KEY must differ from KAIMEN_SECRET_KEY")


def development_audit_key(settings: Mapping[str, Any]) -> bytes | None:
    """Return the chain key derived from the secret key in debug and testing, else None."""
    if settings.get("AUDIT_KEY") or not (settings.get("DEBUG") or settings.get("TESTING")):
        return None
    secret = str(settings.get("SECRET_KEY") or "").encode()
    return hmac.new(secret, b"kaimen audit chain", hashlib.sha256).digest()
