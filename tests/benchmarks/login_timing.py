"""Time failed logins for a known, an unknown and a disabled username (part of ``make bench``).

A wrong password for an existing account must take as long as any password for a name
that does not exist or is disabled, or the answer's timing tells which names exist. The
logins run in-process on a throw-away SQLite database, in rotating order, with throttling
out of the way; the script fails when one median exceeds another by more than ``MARGIN``.
The unit suite checks the same thing without a clock: each path checks one hash of the
same cost (tests/core/test_login_throttle.py). ``BENCH_LOGIN_ROUNDS`` sets the rounds.
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from kaimen import create_app
from kaimen.auth.models import User
from kaimen.extensions import db

ROUNDS = int(os.environ.get("BENCH_LOGIN_ROUNDS", "20"))
MARGIN = 1.5  # generous: the leak this guards against was a factor of ten
NAMES = {"known": "timing.known", "unknown": "timing.nobody", "disabled": "timing.disabled"}


def say(text: str = "") -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def build_app(workdir: Path):
    """Return an app on a fresh database with an active and a disabled account."""
    app = create_app({
        "TESTING": True,
        "SECRET_KEY": "login-timing-benchmark-only",
        "DATABASE_URL": f"sqlite:///{workdir / 'timing.db'}",
        "WTF_CSRF_ENABLED": False,
        "RATELIMIT_ENABLED": False,
        "LOGIN_MAX_FAILURES": 10**6,
        "LOGIN_USER_MAX_FAILURES": 10**6,
    })
    with app.app_context():
        db.create_all()
        for key in ("known", "disabled"):
            user = User(username=NAMES[key], display_name=key, active=key == "known")
            user.set_password("the real password of " + key)
            db.session.add(user)
        db.session.commit()
    return app


def measure(app) -> dict[str, list[float]]:
    """Return the seconds each failed login took, per kind of name."""
    client = app.test_client()
    kinds = list(NAMES)
    timings: dict[str, list[float]] = {kind: [] for kind in kinds}
    for round_ in range(ROUNDS + 2):
        order = kinds[round_ % len(kinds):] + kinds[:round_ % len(kinds)]
        for kind in order:
            started = time.perf_counter()
            response = client.post("/login", data={"username": NAMES[kind],
                                                    "password": "a wrong guess"})
            elapsed = time.perf_counter() - started
            if response.status_code != 200:
                raise SystemExit(f"{kind}: the login answered {response.status_code}, not 200")
            if round_ >= 2:  # the first rounds warm up caches and the dummy hash
                timings[kind].append(elapsed)
    return timings


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="kaimen-login-timing-") as tmp:
        app = build_app(Path(tmp))
        timings = measure(app)
        with app.app_context():
            db.engine.dispose()
    medians = {kind: statistics.median(values) * 1000 for kind, values in timings.items()}
    say(f"Failed logins, {ROUNDS} rounds, median ms:")
    for kind, value in medians.items():
        say(f"  {kind:<9} {value:8.1f}")
    ratio = max(medians.values()) / min(medians.values())
    verdict = "ok" if ratio <= MARGIN else f"FAILED: more than {MARGIN}"
    say(f"  slowest / fastest: {ratio:.2f} ({verdict})")
    return 0 if ratio <= MARGIN else 1


if __name__ == "__main__":
    sys.exit(main())
