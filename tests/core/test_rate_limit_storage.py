"""Rate limits live in Redis when KAIMEN_REDIS_URL is set, shared by every worker."""

import uuid

import pytest
import redis
from conftest import REDIS, make_app, redis_running


@pytest.mark.skipif(not redis_running(), reason="Redis is not running on 127.0.0.1:6379")
def test_two_workers_share_the_login_limit_through_redis(fresh_database):
    url = fresh_database.url("sqlite")
    settings = {
        "REDIS_URL": f"redis://{REDIS[0]}:{REDIS[1]}/15",
        "LOGIN_IP_LIMIT": "3 per hour",
        # a prefix of its own so earlier runs and other suites never interfere
        "RATELIMIT_KEY_PREFIX": f"kaimen-test-{uuid.uuid4().hex}",
    }
    first, second = make_app(url, **settings), make_app(url, **settings)
    assert first.config["RATELIMIT_STORAGE_URI"].startswith("redis://")
    with first.app_context():
        from kaimen.extensions import db

        db.create_all()
    wrong = {"username": "nobody", "password": "wrong password"}
    statuses = [first.test_client().post("/login", data=wrong).status_code for _ in range(2)]
    statuses += [second.test_client().post("/login", data=wrong).status_code for _ in range(2)]
    # three failures are allowed in all; the fourth, on the other worker, is refused
    assert statuses[:3] == [200, 200, 200]
    assert statuses[3] == 429
    # and the counter is in Redis, where every worker process sees it
    client = redis.Redis(host=REDIS[0], port=REDIS[1], db=15)
    try:
        keys = client.keys(f"*{settings['RATELIMIT_KEY_PREFIX']}*")
        assert keys, "no rate-limit counter was written to Redis"
        client.delete(*keys)
    finally:
        client.close()
        # Flask-Limiter keeps one storage per Limiter object, and the extension is shared
        # by every app of this test process: hand the memory storage back to the others.
        make_app(url)


@pytest.mark.skipif(not redis_running(), reason="Redis is not running on 127.0.0.1:6379")
def test_two_workers_share_cached_pages_through_redis(fresh_database):
    from kaimen import pagecache, tenancy
    from kaimen.extensions import db
    from kaimen.orgs import BUREAU, SCHOOL, Organisation

    url = fresh_database.url("sqlite")
    prefix = f"kaimen-test-{uuid.uuid4().hex}:"
    settings = {"REDIS_URL": f"redis://{REDIS[0]}:{REDIS[1]}/15", "CACHE_KEY_PREFIX": prefix}
    first, second = make_app(url, **settings), make_app(url, **settings)
    with first.app_context(), tenancy.system_scope():
        db.create_all()
        bureau = Organisation(kind=BUREAU, slug="rc", name="Redis County")
        db.session.add(bureau)
        db.session.flush()
        db.session.add(Organisation(kind=SCHOOL, slug="rs", name="Old Name School",
                                    parent_id=bureau.id))
        db.session.commit()
    english = {"Accept-Language": "en"}
    assert pagecache.HIT_HEADER not in first.test_client().get("/s/rs/", headers=english).headers
    shared = second.test_client().get("/s/rs/", headers=english)
    assert shared.headers[pagecache.HIT_HEADER] == "hit"  # stored by the other worker
    with second.app_context(), tenancy.system_scope():
        school = db.session.scalar(db.select(Organisation).filter_by(slug="rs"))
        school.name = "New Name School"
        db.session.commit()
    fresh = first.test_client().get("/s/rs/", headers=english)
    assert pagecache.HIT_HEADER not in fresh.headers
    assert "New Name School" in fresh.get_data(as_text=True)
    client = redis.Redis(host=REDIS[0], port=REDIS[1], db=15)
    try:
        keys = client.keys(f"{prefix}*")
        assert len(keys) == 2, "each version of the page is one key in Redis"
        client.delete(*keys)
    finally:
        client.close()
