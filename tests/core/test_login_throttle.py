"""The login path against an attacker: timing, lockout abuse and parallel guessing."""

from __future__ import annotations

import re
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from html import unescape

import pytest
import redis
import sqlalchemy as sa
from conftest import PASSWORD, make_app
from test_rate_limit_storage import REDIS, redis_running

from kaimen.addresses import address_key
from kaimen.auth import models
from kaimen.auth.models import LoginThrottle, User
from kaimen.extensions import db

EN = {"Accept-Language": "en"}
WRONG = "Wrong username or password."
WRONG_PASSWORD = "not the password"


def attempt(client, username, password=WRONG_PASSWORD, address="127.0.0.1"):
    return client.post("/login", data={"username": username, "password": password},
                       headers=EN, environ_base={"REMOTE_ADDR": address})


def flashes(response) -> list[str]:
    body = response.get_data(as_text=True)
    return [unescape(m) for m in re.findall(r'<p class="flash flash-error"[^>]*>(.*?)</p>', body)]


class HashChecks:
    """Wrap the real password check and remember the method and cost of each hash checked."""

    def __init__(self) -> None:
        self.real = models.check_password_hash
        self.costs: list[str] = []
        self.lock = threading.Lock()

    def __call__(self, pwhash: str, password: str) -> bool:
        with self.lock:
            self.costs.append(pwhash.split("$", 1)[0])  # e.g. scrypt:32768:8:1
        return self.real(pwhash, password)


@pytest.fixture
def hash_checks(monkeypatch) -> HashChecks:
    checks = HashChecks()
    monkeypatch.setattr(models, "check_password_hash", checks)
    return checks


# --- timing: unknown and disabled names cost what a known one costs ------------------------


def test_every_failed_login_checks_one_hash_of_the_same_cost(client, county, ctx, hash_checks):
    county.users["a2.admin"].active = False
    db.session.commit()
    real_cost = county.users["a1.teacher"].password_hash.split("$", 1)[0]
    costs = {}
    for username in ("a1.teacher", "ghost.user", "a2.admin"):  # known, unknown, disabled
        hash_checks.costs.clear()
        response = attempt(client, username)
        assert flashes(response) == [WRONG]
        costs[username] = list(hash_checks.costs)
    assert costs == {name: [real_cost] for name in costs}
    # and the disabled account's right password is refused the same way
    hash_checks.costs.clear()
    assert flashes(attempt(client, "a2.admin", PASSWORD)) == [WRONG]
    assert hash_checks.costs == [real_cost]


# --- lockout abuse: a lock holds one address, not the account -----------------------------


def test_failures_elsewhere_do_not_lock_out_the_right_password(app, client, county):
    app.config["LOGIN_MAX_FAILURES"] = 3
    for _ in range(3):
        assert attempt(client, "a1.teacher", address="203.0.113.9").status_code == 200
    # the attacker's address is locked, even with the right password ...
    locked = attempt(client, "a1.teacher", PASSWORD, address="203.0.113.9")
    assert locked.status_code == 429
    assert flashes(locked)[0].startswith("Too many failed attempts.")
    # ... but the teacher, from an address without failures, gets in
    assert attempt(client, "a1.teacher", PASSWORD, address="198.51.100.4").status_code == 302


def test_the_username_limit_holds_across_addresses_with_the_same_answer(app, client, county):
    app.config["LOGIN_MAX_FAILURES"] = 3
    app.config["LOGIN_USER_MAX_FAILURES"] = 5
    answers = {}
    for name, other in (("a1.teacher", "a2.admin"), ("ghost.user", "ghost.other")):
        # five failures from five addresses: no address reaches its own limit
        for n in range(5):
            assert attempt(client, name, address=f"203.0.113.{n}").status_code == 200
        spread = attempt(client, name, PASSWORD, address="198.51.100.4")
        assert spread.status_code == 429
        # and a name locked from one address gives the same answer
        for _ in range(3):
            assert attempt(client, other, address="192.0.2.1").status_code == 200
        pair = attempt(client, other, PASSWORD, address="192.0.2.1")
        assert pair.status_code == 429
        answers[name] = (flashes(spread), flashes(pair))
    # one message for every lock, known name or not
    messages = {text for both in answers.values() for texts in both for text in texts}
    assert len(messages) == 1
    assert messages.pop().startswith("Too many failed attempts.")


def test_a_success_takes_back_only_its_own_attempt(app, client, county, ctx):
    app.config["LOGIN_MAX_FAILURES"] = 3
    attempt(client, "a1.teacher", address="203.0.113.9")
    attempt(client, "a1.teacher", address="198.51.100.4")
    assert attempt(client, "a1.teacher", PASSWORD, address="198.51.100.4").status_code == 302
    db.session.expire_all()
    rows = {row.address: row.failures for row in db.session.scalars(
        sa.select(LoginThrottle).where(LoginThrottle.username == "a1.teacher"))}
    # the table holds the day's keyed hash of the address, never the address
    assert rows == {address_key("203.0.113.9"): 1, "": 2}


# --- parallel guessing: at most the limit is checked, and nothing breaks -------------------

THREADS = 16


@pytest.fixture
def redis_settings():
    """Settings that keep the throttle in Redis, under a prefix of this test's own."""
    if not redis_running():
        pytest.skip("Redis is not running on 127.0.0.1:6379")
    prefix = f"kaimen-test-{uuid.uuid4().hex}:"
    yield {"REDIS_URL": f"redis://{REDIS[0]}:{REDIS[1]}/15", "RATELIMIT_KEY_PREFIX": prefix}
    client = redis.Redis(host=REDIS[0], port=REDIS[1], db=15)
    try:
        keys = client.keys(f"{prefix}*")
        if keys:
            client.delete(*keys)
    finally:
        client.close()


def throttled_app(url: str, **settings):
    app = make_app(url, LOGIN_MAX_FAILURES=5, LOGIN_IP_LIMIT="1000 per minute", **settings)
    with app.app_context():
        db.create_all()
        if db.session.scalar(sa.select(User).where(User.username == "target")) is None:
            user = User(username="target", display_name="Target")
            user.set_password(PASSWORD)
            db.session.add(user)
            db.session.commit()
    return app


def check_parallel_guesses(app, monkeypatch) -> None:
    """Send THREADS wrong passwords for one name at once: the limit is checked, the rest refused."""
    checks = HashChecks()
    monkeypatch.setattr(models, "check_password_hash", checks)
    start = threading.Barrier(THREADS)

    def guess(n: int) -> int:
        client = app.test_client()
        start.wait()
        response = client.post("/login", data={"username": "target", "password": f"guess {n}"})
        return response.status_code

    # an exception in a request (a unique violation, say) propagates here under TESTING
    with ThreadPoolExecutor(THREADS) as pool:
        statuses = list(pool.map(guess, range(THREADS)))
    assert sorted(statuses) == [200] * 5 + [429] * (THREADS - 5)
    assert len(checks.costs) == 5


def dispose(*apps) -> None:
    for app in apps:
        with app.app_context():
            db.engine.dispose()


def test_parallel_wrong_passwords_check_at_most_the_limit(backend, fresh_database, monkeypatch):
    app = throttled_app(fresh_database.url(backend))
    try:
        check_parallel_guesses(app, monkeypatch)
        with app.app_context():
            pair = db.session.get(LoginThrottle, ("target", address_key("127.0.0.1")))
            assert pair is not None
            assert pair.failures == THREADS
            assert pair.locked_until is not None
    finally:
        dispose(app)


def test_with_redis_parallel_guesses_check_at_most_the_limit(
    fresh_database, redis_settings, monkeypatch
):
    url = fresh_database.url("sqlite")
    app = throttled_app(url, **redis_settings)
    try:
        check_parallel_guesses(app, monkeypatch)
        with app.app_context():  # counted in Redis, not in the database
            assert db.session.scalar(sa.select(sa.func.count()).select_from(LoginThrottle)) == 0
    finally:
        dispose(app)
        # Flask-Limiter keeps one storage per Limiter object, shared by every app of this
        # process: hand the memory storage back to the others.
        make_app(url)


def test_with_redis_workers_share_the_pair_lock_and_spare_other_addresses(
    fresh_database, redis_settings
):
    url = fresh_database.url("sqlite")
    first = throttled_app(url, **redis_settings)
    second = throttled_app(url, **redis_settings)
    first.config["LOGIN_MAX_FAILURES"] = second.config["LOGIN_MAX_FAILURES"] = 3
    try:
        one, other = first.test_client(), second.test_client()
        assert attempt(one, "target", address="203.0.113.9").status_code == 200
        assert attempt(other, "target", address="203.0.113.9").status_code == 200
        assert attempt(one, "target", address="203.0.113.9").status_code == 200
        locked = attempt(other, "target", PASSWORD, address="203.0.113.9")
        assert locked.status_code == 429
        assert flashes(locked)[0].startswith("Too many failed attempts.")
        assert attempt(one, "target", PASSWORD, address="198.51.100.4").status_code == 302
        client = redis.Redis(host=REDIS[0], port=REDIS[1], db=15)
        try:
            prefix = redis_settings["RATELIMIT_KEY_PREFIX"]
            # the success took its attempt back from the username's count: three failures left
            assert int(client.get(f"{prefix}kaimen:login:0::target")) == 3
            with first.app_context():  # keyed by the day's hash of the address
                attacker, teacher = address_key("203.0.113.9"), address_key("198.51.100.4")
            assert client.ttl(f"{prefix}kaimen:login:32:{attacker}:target") > 0
            assert client.get(f"{prefix}kaimen:login:32:{teacher}:target") is None
            assert not [key for key in client.keys(f"{prefix}*") if b"203.0.113" in key]
        finally:
            client.close()
    finally:
        dispose(first, second)
        make_app(url)
