"""Rectification plans (整改方案) with bureau approval, the public rectification window
(整改之窗) and the ledger (整改台账), urged (督办) and signed off (销号) item by item."""

from __future__ import annotations

from typing import Any

from flask import url_for
from flask_babel import lazy_gettext as _l

from kaimen import (
    MetricTable,
    NavItem,
    Organisation,
    Panel,
    Permission,
    User,
    hookimpl,
    user_can,
)

from . import demo, hookspecs, metrics
from .blueprint import NAME, bureau_blueprint, school_blueprint
from .views import bureau as bureau_pages  # noqa: F401 - importing the views registers the routes
from .views import public as public_pages  # noqa: F401
from .views import staff as staff_pages  # noqa: F401

__all__ = ["HOOKSPECS", "LABEL", "NAME", "PERMISSIONS", "bureau_blueprint", "school_blueprint"]

HOOKSPECS = hookspecs  # this plugin's own hooks, for the dual-link plugin
LABEL = _l("Rectification plans")

PERMISSIONS = [
    Permission.of("plans.view", _l("See rectification plans and the ledger"),
                  ["school_admin", "bureau_admin", "supervisor", "leader", "unit_staff"]),
    Permission.of("plans.manage", _l("Draft and submit the school's plan; report progress"),
                  ["school_admin"]),
    Permission.of("plans.own", _l("Draft and submit the bureau's own plan; report its progress"),
                  ["bureau_admin"]),
    Permission.of("plans.review", _l("Approve or return plans; urge and sign off ledger items"),
                  ["supervisor"]),
    Permission.of("plans.campaigns", _l("Open rectification campaigns"),
                  ["bureau_admin", "supervisor"]),
]


@hookimpl
def kaimen_permissions() -> list[Permission]:
    return PERMISSIONS


@hookimpl
def kaimen_navigation(org: Organisation, user: User | Any) -> list[NavItem]:
    if org.is_school:
        items = [NavItem(_l("Rectification window"), url_for("plans.window", school=org.slug),
                         order=40)]
        if user_can(user, "plans.view", org):
            items += [NavItem(_l("Rectification plan"), url_for("plans.manage", school=org.slug),
                              order=41),
                      NavItem(_l("Rectification ledger"),
                              url_for("plans.ledger_list", school=org.slug), order=42)]
        return items
    items = [NavItem(_l("Rectification window"), url_for("plans_bureau.window", bureau=org.slug),
                     order=39)]
    if user_can(user, "plans.view", org):
        items.append(NavItem(_l("Rectification"), url_for("plans_bureau.index", bureau=org.slug),
                             order=40))
    return items


@hookimpl
def kaimen_school_panels(school: Organisation) -> list[Panel]:
    panel = metrics.school_panel(school)
    return [panel] if panel is not None else []


@hookimpl
def kaimen_school_figures(bureau: Organisation, schools: list[Organisation]) -> dict[int, Any]:
    return metrics.school_figures(bureau, schools)


@hookimpl
def kaimen_bureau_metrics(bureau: Organisation, schools: list[Organisation],
                          figures: dict[int, Any] | None = None) -> MetricTable | None:
    return metrics.bureau_table(bureau, schools, figures)


@hookimpl
def kaimen_demo_data(bureau: Organisation, schools: list[Organisation],
                     users: dict[str, User]) -> None:
    demo.load(bureau, schools, users)
