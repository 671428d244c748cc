"""Each school's figures for the umbrella view, kept until the school's data changes.

At a thousand schools the umbrella view cannot count a county's rows on every request
(a hundred thousand cases, half a million visits). A plugin that implements
``kaimen_school_figures`` answers instead with its raw figures per school: plain data
(numbers, dates, ids, small dicts), never words or names, computed from the school's own
rows and its bureau's. The core keeps each school's answers in the figures cache, keyed by

- the bureau asking and its local day (figures such as "overdue" age without a write);
- the school's version and the every-school version from ``school_version``
  (``kaimen.pagecache``), bumped in the writer's own transaction by every flush that
  writes a row of the school, or a bureau's row that any school's figures may show;

and asks the plugin again only for the schools whose key is new: after one parent files
an opinion, the next view recounts that one school, in that plugin's fixed number of
queries. The plugin's ``kaimen_bureau_metrics`` then receives ``figures=`` and builds its
table, totals and links from them without counting again.

A figure that depends on rows no school owns (users, role grants, names) is read by the
plugin when it builds the table, never kept here: such rows bump no school's version.
A write that bypasses the ORM's flush (``sa.update``/``sa.delete``) must call
``kaimen.pagecache.touch`` for the schools it changed; ``FIGURES_SECONDS`` is the
backstop for any that does not.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections import OrderedDict
from collections.abc import Hashable, Sequence
from typing import Any, cast

import sqlalchemy as sa
from flask import current_app, has_request_context, request
from flask_caching import Cache

from . import memo, plugins, tenancy
from .extensions import db
from .idlists import among
from .orgs import Organisation
from .pagecache import EPOCH, EVERYWHERE, SchoolVersion
from .timeutil import local_date

cache = Cache()  # its own store: a county's schools must not push pages out, nor pages them

# Each worker also keeps the entries it read or counted, as objects: unpickling a thousand
# entries from the cache cost a view at 1,000 schools ~47 ms. A key carries every version
# its entry depends on, so the entry under a key never changes; plugins read the figures
# they are handed and must not change them (tests/core/test_figures.py checks all six).
# Entries expire with the cache's own timeout (the backstop for raw SQL writes).
_WORKER_MAX = 50_000
_worker: dict[str, tuple[float, Any]] = {}
_worker_lock = threading.Lock()


def init_app(app: Any) -> None:
    redis = app.config["REDIS_URL"]
    cache.init_app(app, config={
        "CACHE_TYPE": "RedisCache" if redis else "SimpleCache",
        "CACHE_REDIS_URL": redis,
        "CACHE_KEY_PREFIX": app.config.get("CACHE_KEY_PREFIX", "kaimen:") + "figures:",
        "CACHE_DEFAULT_TIMEOUT": app.config["FIGURES_SECONDS"],
        "CACHE_THRESHOLD": 50_000,  # schools × bureaus per process, without Redis
    })


def _keep(entries: dict[str, Any]) -> None:
    """Keep ``entries`` in this worker until the cache's timeout; the oldest go first."""
    if not entries:
        return
    until = time.monotonic() + current_app.config["FIGURES_SECONDS"]
    with _worker_lock:
        overflow = len(_worker) + len(entries) - _WORKER_MAX
        if overflow > 0:
            for key in list(itertools.islice(_worker, overflow)):
                del _worker[key]
        for key, value in entries.items():
            _worker[key] = (until, value)


def forget() -> None:
    """Forget every kept figure and view, in the shared cache and in this worker."""
    with _worker_lock:
        _worker.clear()
        _views.clear()
    memo.forget()
    cache.clear()


# Each worker also keeps its last few finished umbrella views (``kaimen.web.umbrella``),
# one per viewer, locale, day and filters, each with the versions it was made from (every
# school under its bureau, the bureau's own rows, the people: ``pagecache.PEOPLE``); it is
# shown only while they are unchanged. A view of a thousand schools holds a few megabytes:
# few are kept, the oldest go first.
VIEWS_MAX = 8
_views: OrderedDict[Hashable, tuple[float, Any]] = OrderedDict()


def kept_view(key: Hashable) -> Any:
    """Return the view this worker keeps under ``key``, or None."""
    with _worker_lock:
        held = _views.get(key)
        if held is None or held[0] <= time.monotonic():
            _views.pop(key, None)
            return None
        _views.move_to_end(key)
        return held[1]


def keep_view(key: Hashable, view: Any) -> None:
    """Keep ``view`` under ``key`` in this worker until the figures' timeout."""
    until = time.monotonic() + current_app.config["FIGURES_SECONDS"]
    with _worker_lock:
        _views[key] = (until, view)
        _views.move_to_end(key)
        while len(_views) > VIEWS_MAX:
            _views.popitem(last=False)


def versions(school_ids: Sequence[int]) -> dict[int, int]:
    """Return each school's version, ``EVERYWHERE``'s and the epoch, in one query."""
    table = SchoolVersion.__table__
    wanted = {EPOCH, EVERYWHERE, *school_ids}
    found = dict(db.session.execute(
        sa.select(table.c.school_id, table.c.version)
        .where(among(table.c.school_id, wanted))).all())
    return {i: found.get(i, 0) for i in wanted}


def _key(bureau: Organisation, school_id: int, day: str, known: dict[int, int]) -> str:
    return (f"{known[EPOCH]}:{bureau.id}:{day}:{school_id}:{known[EVERYWHERE]}:"
            f"{known[school_id]}")


def gather(bureau: Organisation, schools: Sequence[Organisation],
           enabled: dict[str, list[Organisation]]) -> dict[str, dict[int, Any]]:
    """Return ``{plugin: {school id: raw figures}}`` for the plugins that keep figures.

    ``enabled`` maps each plugin to the schools where it is on. Kept answers are read in
    one round trip; each plugin is asked, once, about the schools it has no answer for.
    """
    answering = {impl.plugin_name: impl.function for impl in
                 plugins.state().manager.hook.kaimen_school_figures.get_hookimpls()
                 if enabled.get(impl.plugin_name)}
    if not answering or not schools:
        return {}
    day = local_date(bureau).isoformat()
    known = versions([s.id for s in schools])
    keys = {s.id: _key(bureau, s.id, day, known) for s in schools}
    now = time.monotonic()
    kept: dict[int, Any] = {}
    for school_id, key in keys.items():
        held = _worker.get(key)
        if held is not None and held[0] > now:
            kept[school_id] = held[1]
    wanted = {i: key for i, key in keys.items() if i not in kept}
    if wanted:
        try:
            shared = dict(zip(wanted, cache.get_many(*wanted.values()), strict=True))
        except Exception:  # a cache that fails is a miss: the figures are counted again
            current_app.logger.exception("figures cache: could not read")
            shared = {}
        found = {i: v for i, v in shared.items() if isinstance(v, dict)}
        _keep({wanted[i]: v for i, v in found.items()})
        kept |= found
    entries: dict[int, dict[str, Any]] = {i: dict(v) if isinstance(v, dict) else {}
                                          for i, v in kept.items()}
    changed: set[int] = set()
    for name, answer in answering.items():
        missing = [s for s in enabled[name] if name not in entries.setdefault(s.id, {})]
        if not missing:
            continue
        asked = {s.id for s in missing}
        with tenancy.narrowed(s.id for s in schools if s.id not in asked):
            counted = cast(dict[int, Any], answer(bureau=bureau, schools=missing) or {})
        for school in missing:
            entries[school.id][name] = counted.get(school.id)
            changed.add(school.id)
    if changed:
        _keep({keys[i]: entries[i] for i in changed})
        try:
            cache.set_many({keys[i]: entries[i] for i in changed})
        except Exception:
            current_app.logger.exception("figures cache: could not store")
    return {name: {s.id: entries[s.id][name] for s in enabled[name]} for name in answering}


def _enabled_and_kept(bureau: Organisation, schools: Sequence[Organisation]
                      ) -> tuple[dict[str, list[Organisation]], dict[str, dict[int, Any]]]:
    """Return each plugin's schools (where it is on) and the kept figures, once per request
    for the same bureau and schools (the table and the trends share them)."""
    memo: dict[Any, Any] = {}
    if has_request_context():
        memo = request.__dict__.setdefault("kaimen_kept_figures", {})
    key = (bureau.id, frozenset(s.id for s in schools))
    if key not in memo:
        disabled = plugins.disabled_by_school([s.id for s in schools])
        names = {impl.plugin_name for hook in ("kaimen_school_figures", "kaimen_bureau_metrics",
                                               "kaimen_bureau_trends")
                 for impl in getattr(plugins.state().manager.hook, hook).get_hookimpls()}
        enabled = {name: [s for s in schools if name not in disabled.get(s.id, ())]
                   for name in names}
        memo[key] = (enabled, gather(bureau, schools, enabled))
    return cast(tuple[dict[str, list[Organisation]], dict[str, dict[int, Any]]], memo[key])


def kept_of(name: str, bureau: Organisation, schools: Sequence[Organisation]
            ) -> dict[int, Any] | None:
    """Return plugin ``name``'s kept figures over ``schools`` (those where it is on), as its
    ``kaimen_bureau_metrics`` receives them in the same request; None when it keeps none.

    A plugin's other hooks (its umbrella filters) read them here instead of counting again.
    """
    if not schools:
        return None
    return _enabled_and_kept(bureau, schools)[1].get(name)


def call(hook_name: str, bureau: Organisation, schools: Sequence[Organisation],
         **kwargs: Any) -> list[Any]:
    """Call ``hook_name`` once per plugin over the schools where it is on, handing the kept
    figures (``figures=``) to a plugin that keeps them; return the answers that are not None."""
    if not schools:
        return []
    enabled, kept = _enabled_and_kept(bureau, schools)
    answers = []
    for impl in getattr(plugins.state().manager.hook, hook_name).get_hookimpls():
        shown = enabled.get(impl.plugin_name, list(schools))
        if not shown:
            continue
        arguments: dict[str, Any] = {"bureau": bureau, "schools": shown, **kwargs}
        if impl.plugin_name in kept and "figures" in (*impl.argnames, *impl.kwargnames):
            arguments["figures"] = kept[impl.plugin_name]
        answer = impl.function(**arguments)
        if answer is not None:
            answers.append(answer)
    return answers


def metric_tables(bureau: Organisation, schools: Sequence[Organisation]) -> list[Any]:
    """Ask each plugin for its umbrella table over the schools where it is enabled, in order.

    A plugin that keeps figures gets them as ``figures=`` (see the module); the others
    count as before.
    """
    return sorted(call("kaimen_bureau_metrics", bureau, schools), key=lambda t: t.order)
