"""The isolation harness: every URL rule, plugin routes included, against strangers.

It walks ``app.url_map``, so it covers each new plugin without edits. For every
rule that takes a school, a bureau or an object id, a user of another school, a
user of another bureau and an anonymous visitor get 404 or a redirect to the
login page, never a page with the victim's data; requests that change state
change nothing. An id in a URL is named after its model (``<int:notice_id>``
for ``Notice``), which is how the harness finds the victim's object to aim at.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

import pytest
import sqlalchemy as sa
from conftest import login

from kaimen import tenancy
from kaimen.auth.access import access_markers
from kaimen.auth.models import User
from kaimen.extensions import db, limiter

SAFE_METHODS = {"GET"}
SKIPPED_METHODS = {"HEAD", "OPTIONS"}


def snake_case(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def models_by_param() -> dict[str, Any]:
    """Map ``<model>_id`` URL parameter names to mapped classes."""
    return {f"{snake_case(m.class_.__name__)}_id": m.class_ for m in db.Model.registry.mappers}


def victim_row_id(model: Any, county: Any) -> int | None:
    """Return the id of a row of ``model`` that belongs to school a1 or bureau county-a."""
    if issubclass(model, tenancy.TenantOwned):
        where = model.school_id == county.a1.id
    elif model is User:
        return county.users["a1.teacher"].id
    elif hasattr(model, "bureau_id"):
        where = model.bureau_id == county.a.id
    elif hasattr(model, "org_id"):
        where = model.org_id.in_([county.a.id, county.a1.id])
    else:
        return None
    return db.session.scalar(tenancy.all_schools(sa.select(model.id).where(where).limit(1)))


def database_digest() -> str:
    """Return a digest of every row of every table, read with Core (outside tenancy)."""
    digest = hashlib.sha256()
    for table in db.metadata.sorted_tables:
        if table.name == "login_throttle":
            continue
        rows = db.session.execute(sa.select(table).order_by(*table.primary_key.columns)).all()
        # repr of a plain tuple: a Row's repr truncates long values (and costs ten times more)
        digest.update(f"{table.name}:{len(rows)}:{sorted(repr(tuple(r)) for r in rows)}".encode())
    return digest.hexdigest()


# Statements that read or frame a transaction; anything else may write.
READING = ("SELECT", "SAVEPOINT", "RELEASE", "ROLLBACK", "BEGIN", "COMMIT", "SET", "SHOW",
           "PRAGMA")


class Writes:
    """Whether the engine was sent a statement that may write since ``seen`` was cleared:
    a request that sent none cannot have changed the database, so the digest taken before
    it still holds."""

    def __init__(self) -> None:
        self.seen = False

    def __call__(self, _conn: Any, _cursor: Any, statement: str, *_rest: Any) -> None:
        words = statement.lstrip().split(None, 1)
        if not words or words[0].upper() not in READING:
            self.seen = True


@pytest.fixture
def world(app, county):
    """The county, with every plugin's demo data in every school (``ctx`` is active)."""
    users = {u.username: u for u in db.session.scalars(sa.select(User))}
    hook = app.extensions["kaimen"].manager.hook
    hook.kaimen_demo_data(bureau=county.a, schools=[county.a1, county.a2], users=users)
    hook.kaimen_demo_data(bureau=county.b, schools=[county.b1], users=users)
    db.session.commit()
    return county


def is_public(app: Any, endpoint: str) -> bool:
    return access_markers(app.view_functions[endpoint]) == ["public"]


def refused(response: Any, anonymous: bool, own_staff: bool = False) -> bool:
    if response.status_code == 404:
        return True
    if own_staff and response.status_code == 403:
        return True  # staff of their own school or bureau lacking a right: nothing is shown
    location = response.headers.get("Location", "")
    return anonymous and response.status_code == 302 and location.startswith("/login")


def targets(app: Any, world: Any) -> tuple[list[tuple[str, str, bool, dict, dict]], list[str]]:
    """Return (rule, method, public, victim values, cross values) for every guarded case."""
    models = models_by_param()
    cases, uncovered = [], []
    if True:  # the ctx fixture's app context and system scope are active
        for rule in app.url_map.iter_rules():
            if rule.endpoint == "static" or rule.endpoint.endswith(".static"):
                continue
            params = set(rule.arguments)
            ids = sorted(p for p in params if p.endswith("_id"))
            if not ids and not params & {"school", "bureau"}:
                continue  # names no organisation and no object (e.g. /lang/<locale>)
            values: dict[str, Any] = {}
            for param in ids:
                model = models.get(param)
                row_id = victim_row_id(model, world) if model is not None else None
                if row_id is None:
                    uncovered.append(f"{rule.rule} ({param})")
                    break
                values[param] = row_id
            else:
                victim, cross = dict(values), dict(values)
                if "school" in params:
                    victim["school"], cross["school"] = "a1", "b1"
                if "bureau" in params:
                    victim["bureau"], cross["bureau"] = "county-a", "county-b"
                for method in sorted(rule.methods - SKIPPED_METHODS):
                    cases.append(
                        (rule.endpoint, method, is_public(app, rule.endpoint), victim, cross)
                    )
    return cases, uncovered


def request(client: Any, app: Any, endpoint: str, method: str, values: dict) -> Any:
    url = app.url_map.bind("localhost").build(endpoint, values)
    return client.open(url, method=method, data={})


def test_every_guarded_rule_refuses_strangers(app, world):
    cases, uncovered = targets(app, world)
    assert not uncovered, (
        "URL ids the harness cannot aim at: name them after their model (<int:model_id>) and "
        f"make the demo-data hook create one for each school: {uncovered}"
    )
    assert any(method == "POST" for _, method, _, _, _ in cases), "the harness saw no POST rule"
    clients = {"anonymous": app.test_client()}
    for username in ("b1.admin", "b.supervisor", "b.admin"):
        clients[username] = app.test_client()
        login(clients[username], username)
    limiter.enabled = False
    failures = []
    writes, digest = Writes(), database_digest()
    sa.event.listen(db.engine, "before_cursor_execute", writes)
    try:
        for endpoint, method, public, victim, cross in cases:
            attempts = []
            if not public:
                attempts += [(name, victim) for name in clients]
            has_ids = any(key.endswith("_id") for key in victim)
            if has_ids:
                own = ["b1.admin"] if "school" in cross else ["b.supervisor", "b.admin"]
                attempts += [(name, cross) for name in own] + [("anonymous", cross)]
            for name, values in attempts:
                writes.seen = False
                response = request(clients[name], app, endpoint, method, values)
                own_staff = values is cross and name != "anonymous"
                if not refused(response, name == "anonymous", own_staff):
                    failures.append(
                        f"{method} {endpoint} {values} as {name}: {response.status_code}"
                    )
                if writes.seen:
                    before, digest = digest, database_digest()
                    if digest != before and method not in SAFE_METHODS:
                        failures.append(f"{method} {endpoint} {values} as {name} changed data")
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", writes)
        limiter.enabled = True
    assert not failures, "\n".join(failures)


def test_harness_covers_plugin_routes(app, world):
    cases, _ = targets(app, world)
    endpoints = {endpoint for endpoint, *_ in cases}
    assert {"noticeboard.show", "noticeboard.edit", "noticeboard.delete"} <= endpoints
    assert {"admin.school_users", "admin.bureau_user_active", "core.bureau_home"} <= endpoints


def test_harness_covers_every_plugin(app, world):
    cases, _ = targets(app, world)
    covered = {endpoint.split(".")[0].removesuffix("_bureau") for endpoint, *_ in cases}
    assert set(app.extensions["kaimen"].plugins) <= covered


# Values that once reached the database and ended in a 500: beyond PostgreSQL's integer,
# beyond SQLite's 64-bit integer, and NUL, which PostgreSQL refuses in text.
HOSTILE_IDS = ["2147483648", "9999999999", str(2**63 + 7), "99999999999999999999999"]
HOSTILE_SLUGS = ["x\x00", "a1\x00", "%00"]
QUERY_IDS = ("owner", "school", "template", "page")


def hostile_paths(app: Any, world: Any) -> list[tuple[str, str, str]]:
    """Return (method, path, what) for every rule with an id or slug, filled with bad values."""
    cases, _ = targets(app, world)
    adapter = app.url_map.bind("localhost")
    paths = []
    for endpoint, method, _public, victim, _cross in cases:
        ids = [key for key in victim if key.endswith("_id")]
        good = adapter.build(endpoint, victim)
        for key in ids:
            for bad in HOSTILE_IDS:
                paths.append((method, good.replace(f"/{victim[key]}", f"/{bad}", 1), key))
        for key, slug in (("school", "a1"), ("bureau", "county-a")):
            if key in victim:
                for bad in HOSTILE_SLUGS:
                    paths.append((method, good.replace(f"/{slug}/", f"/{bad}/", 1), key))
    return paths


def test_out_of_range_ids_and_nul_in_paths_answer_404(app, world):
    paths = hostile_paths(app, world)
    assert any(what.endswith("_id") for *_, what in paths)
    assert any(what == "school" for *_, what in paths)
    clients = {"anonymous": app.test_client(), "a1.admin": app.test_client()}
    login(clients["a1.admin"], "a1.admin")
    limiter.enabled = False
    failures = []
    try:
        for name, client in clients.items():
            for method, path, what in paths:
                response = client.open(path, method=method, data={})
                if response.status_code != 404:
                    failures.append(f"{method} {path!r} ({what}) as {name}: {response.status_code}")
    finally:
        limiter.enabled = True
    assert not failures, "\n".join(failures)


def test_out_of_range_query_ids_are_ignored(app, world):
    """Every GET page of a school or bureau, with huge or non-ASCII ids in its query string."""
    cases, _ = targets(app, world)
    staff = {"school": app.test_client(), "bureau": app.test_client()}
    login(staff["school"], "a1.admin")
    login(staff["bureau"], "a.supervisor")
    adapter = app.url_map.bind("localhost")
    limiter.enabled = False
    failures, seen = [], 0
    try:
        for endpoint, method, _public, victim, _cross in cases:
            if method != "GET":
                continue
            client = staff["school" if "school" in victim else "bureau"]
            path = adapter.build(endpoint, victim)
            for bad in [*HOSTILE_IDS, "\u00b2", "1\x00"]:
                query = "&".join(f"{name}={bad}" for name in QUERY_IDS)
                response = client.get(f"{path}?{query}")
                seen += 1
                if response.status_code >= 500:
                    failures.append(f"GET {path}?{query!r}: {response.status_code}")
    finally:
        limiter.enabled = True
    assert seen
    assert not failures, "\n".join(failures)
