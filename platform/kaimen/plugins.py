"""Plugin discovery, registration and per-school enablement."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from importlib.metadata import entry_points
from types import ModuleType
from typing import Any, Protocol, cast

import pluggy
import sqlalchemy as sa
from flask import Flask, current_app, g
from markupsafe import Markup
from sqlalchemy.orm import Mapped, mapped_column

from . import audit, hookspecs
from .extensions import Model, db
from .idlists import among
from .orgs import Organisation

ENTRY_POINT_GROUP = "kaimen.plugins"


@dataclass(frozen=True)
class NavItem:
    """A link in the navigation bar."""

    label: Any
    url: str
    order: int = 50


@dataclass(frozen=True)
class Panel:
    """A block on the school's public page."""

    title: Any
    html: Markup
    order: int = 50


class SchoolRef(Protocol):
    """What a link builder may read of a school: the umbrella hands it the school as its
    kept view holds it (``kaimen.web.umbrella.Shown``), not the ORM object."""

    @property
    def id(self) -> int: ...

    @property
    def slug(self) -> str: ...

    @property
    def parent_id(self) -> int | None: ...


# Builds the URL of the list behind a figure: given the school (None for the total row).
LinkBuilder = Callable[[SchoolRef | None], str | None]


@dataclass
class MetricTable:
    """A plugin's figures for the umbrella view: one row per school, plus a total.

    ``links`` maps a column's index to a function that returns the URL of the filtered
    list behind that column's figure, given the school (None for the county's total), or
    None where there is none. It is called once per cell while the page renders, so it
    must not query the database: build one URL with ``url_for`` and add the school to it
    (``f"{base}&school={school.id}"``). Offer a link only to a list the current user may
    open. The Excel export keeps the numbers and no links.
    """

    title: Any
    columns: list[Any]
    rows: dict[int, list[Any]] = field(default_factory=dict)  # school id -> cells
    total: list[Any] | None = None
    url: str | None = None
    order: int = 50
    links: dict[int, LinkBuilder] = field(default_factory=dict)  # column index -> builder
    # The moment (naive UTC, as ``utcnow``) a figure next changes with no write, as when an
    # event ends: a kept umbrella view that shows this table is made again from then.
    until: datetime | None = None

    def link(self, index: int, school: SchoolRef | None) -> str | None:
        """Return the URL of the list behind column ``index`` for ``school`` (None: total)."""
        build = self.links.get(index)
        return build(school) if build is not None else None


@dataclass
class Trend:
    """A plugin's figure per month over the schools shown (oldest month first)."""

    title: Any
    months: list[date]  # the first day of each month
    values: list[int]
    order: int = 50


@dataclass(frozen=True)
class GroupOption:
    """One choice of a ``SchoolGroup``: a value for the URL, a label and its schools."""

    value: str
    label: Any
    school_ids: frozenset[int]
    mine: bool = False  # the schools the current user answers for: listed first


@dataclass
class SchoolGroup:
    """A way to group a bureau's schools (by leader, by unit …): a filter of the umbrella view."""

    key: str
    label: Any
    options: list[GroupOption] = field(default_factory=list)
    order: int = 50


class PluginSetting(Model):
    """A school's switch for one plugin; no row means enabled."""

    __tablename__ = "plugin_setting"
    __table_args__ = (sa.UniqueConstraint("org_id", "plugin"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    org_id: Mapped[int] = mapped_column(sa.ForeignKey("organisation.id"), index=True)
    plugin: Mapped[str] = mapped_column(sa.String(64))
    enabled: Mapped[bool] = mapped_column(default=True)


@dataclass(frozen=True)
class StatementCriteria:
    """A condition the core puts on every ORM statement that reads ``entity``.

    A plugin returns these from ``kaimen_statement_criteria`` (the complaint box
    hides reports about a school's leadership this way). A statement lifts one by
    carrying the execution option ``lifted_by`` set to True, as ``all_schools``
    lifts the tenancy scope; ``lift(statement, criteria)`` does that.
    """

    entity: type
    condition: Any  # a SQL expression on ``entity``'s columns
    lifted_by: str


def lift(statement: Any, criteria: StatementCriteria) -> Any:
    """Return ``statement`` marked to pass ``criteria`` (explicit and greppable)."""
    return statement.execution_options(**{criteria.lifted_by: True})


@dataclass
class KaimenState:
    """What the core keeps per app: the plugin manager, plugins and permissions."""

    manager: pluggy.PluginManager
    plugins: dict[str, ModuleType]
    permissions: dict[str, Any]
    criteria: list[StatementCriteria] = field(default_factory=list)


def discover(disabled: Iterable[str] = ()) -> list[ModuleType]:
    """Load every plugin module registered under ``kaimen.plugins``, in name order."""
    skip = {name.strip() for name in disabled if name.strip()}
    modules = []
    for entry in sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
        if entry.name in skip:
            continue
        module = entry.load()
        if getattr(module, "NAME", None) != entry.name:
            raise RuntimeError(f"plugin {entry.value} must set NAME = {entry.name!r}")
        modules.append(module)
    return modules


def make_manager(modules: Iterable[ModuleType]) -> pluggy.PluginManager:
    """Return a plugin manager with the core's hook specs and each plugin's."""
    manager = pluggy.PluginManager("kaimen")
    manager.add_hookspecs(hookspecs)
    for module in modules:
        extra_specs = getattr(module, "HOOKSPECS", None)
        if extra_specs is not None:
            manager.add_hookspecs(extra_specs)
    for module in modules:
        manager.register(module, name=module.NAME)
    for name, core_module in _core_hook_modules():
        manager.register(core_module, name=name)
    manager.check_pending()
    return manager


def _core_hook_modules() -> list[tuple[str, ModuleType]]:
    """Return the core's own hook implementations (demo rows of core models), by name."""
    from .classes import demo as classes_demo

    return [("kaimen.classes", classes_demo)]


def register_blueprints(app: Flask, modules: Iterable[ModuleType]) -> None:
    """Mount each plugin's school and bureau blueprints under their stable prefixes."""
    for module in modules:
        school_bp = getattr(module, "school_blueprint", None)
        if school_bp is not None:
            app.register_blueprint(school_bp, url_prefix=f"/s/<school>/{module.NAME}")
        bureau_bp = getattr(module, "bureau_blueprint", None)
        if bureau_bp is not None:
            app.register_blueprint(bureau_bp, url_prefix=f"/b/<bureau>/{module.NAME}")


def state() -> KaimenState:
    return current_app.extensions["kaimen"]


def plugin_of_blueprint(blueprint: str | None) -> str | None:
    """Return the name of the plugin that owns a blueprint, or None for the core."""
    if blueprint is None:
        return None
    for name, module in state().plugins.items():
        for attr in ("school_blueprint", "bureau_blueprint"):
            bp = getattr(module, attr, None)
            if bp is not None and bp.name == blueprint.split(".")[0]:
                return name
    return None


def disabled_for(school: Organisation) -> set[str]:
    """Return the names of plugins switched off for ``school``."""
    cache = g.setdefault("kaimen_disabled_plugins", {})
    if school.id not in cache:
        cache[school.id] = set(
            db.session.scalars(
                sa.select(PluginSetting.plugin).where(
                    PluginSetting.org_id == school.id, PluginSetting.enabled.is_(False)
                )
            )
        )
    return cache[school.id]


def is_enabled(name: str, school: Organisation) -> bool:
    return name in state().plugins and name not in disabled_for(school)


def hook_for(school: Organisation | None, hook_name: str) -> Any:
    """Return a caller of ``hook_name`` that skips plugins disabled for ``school``."""
    manager = state().manager
    if school is None or not school.is_school:
        return getattr(manager.hook, hook_name)
    removed = [state().plugins[name] for name in disabled_for(school) if name in state().plugins]
    return manager.subset_hook_caller(hook_name, remove_plugins=removed)


def implementation(name: str, school: Organisation, hook_name: str) -> Any:
    """Return plugin ``name``'s ``hook_name`` if it is enabled for ``school``, else None.

    For a hook that only the plugin that made something may answer: ``/track`` hands a
    receipt to the plugin that issued it, and to no other.
    """
    if not is_enabled(name, school):
        return None
    for impl in getattr(state().manager.hook, hook_name).get_hookimpls():
        if impl.plugin_name == name:
            return impl.function
    return None


def call_per_plugin(hook_name: str, schools: Sequence[Organisation], **kwargs: Any) -> list[Any]:
    """Call ``hook_name`` once per plugin, passing ``schools=`` only those where it is enabled.

    This is how a figure over many schools reaches every plugin that answers it, in one
    call each: the plugin switches are read in one query, and a plugin switched off for
    every school is not called at all. Returns the answers that are not None.
    """
    disabled = disabled_by_school([s.id for s in schools])
    answers: list[Any] = []
    for impl in getattr(state().manager.hook, hook_name).get_hookimpls():
        enabled = [s for s in schools if impl.plugin_name not in disabled.get(s.id, ())]
        if not enabled:
            continue
        answer = impl.function(schools=enabled, **kwargs)
        if answer is not None:
            answers.append(answer)
    return answers


def bureau_metrics(bureau: Organisation, schools: list[Organisation]) -> list[MetricTable]:
    """Ask each plugin for its figures over the schools where it is enabled, in order.

    Plugins that keep per-school figures answer from ``kaimen.figures``'s cache.
    """
    from .figures import metric_tables

    return cast(list[MetricTable], metric_tables(bureau, schools))


def kept_figures(name: str, bureau: Organisation, schools: list[Organisation]
                 ) -> dict[int, Any] | None:
    """Return plugin ``name``'s kept figures (``kaimen_school_figures``) over ``schools``, as
    its ``kaimen_bureau_metrics`` receives them in this request; None when it keeps none."""
    from .figures import kept_of

    return kept_of(name, bureau, schools)


def disabled_by_school(school_ids: list[int]) -> dict[int, set[str]]:
    """Return the plugins switched off, per school of ``school_ids`` (one query)."""
    rows = db.session.execute(
        sa.select(PluginSetting.org_id, PluginSetting.plugin).where(
            among(PluginSetting.org_id, school_ids), PluginSetting.enabled.is_(False)
        )
    )
    disabled: dict[int, set[str]] = {}
    for org_id, plugin in rows:
        disabled.setdefault(org_id, set()).add(plugin)
    return disabled


def set_enabled(school: Organisation, name: str, enabled: bool, actor: Any = None) -> bool:
    """Switch plugin ``name`` on or off for ``school``, audited; return whether it changed.

    ``actor`` is the user who asked (None for the command line). Raises ``KeyError``
    when no such plugin is installed.
    """
    if name not in state().plugins:
        raise KeyError(name)
    setting = db.session.scalar(
        sa.select(PluginSetting).where(
            PluginSetting.org_id == school.id, PluginSetting.plugin == name
        )
    )
    current = setting.enabled if setting is not None else True
    if current == enabled:
        return False
    if setting is None:
        db.session.add(PluginSetting(org_id=school.id, plugin=name, enabled=enabled))
    else:
        setting.enabled = enabled
    g.pop("kaimen_disabled_plugins", None)
    audit.record(
        "plugin.enabled" if enabled else "plugin.disabled",
        school,
        actor=actor,
        school=school,
        data={"plugin": name},
    )
    return True
