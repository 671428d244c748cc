"""The open-day calendar (开放日): open days, open weeks and parent-school sessions.

Parents register without an account and follow their registration with its code;
a full event keeps a waitlist; staff check parents in at the door; calendar feeds
per school and per bureau; the bureau's figures on its umbrella view.
"""

from __future__ import annotations

from typing import Any

from flask import url_for
from flask_babel import lazy_gettext as _l

from kaimen import MetricTable, NavItem, Panel, Permission, hookimpl, user_can

from . import demo, metrics
from .blueprint import bureau_blueprint, school_blueprint
from .views import bureau, public, staff

NAME = "opendays"
LABEL = _l("Open-day calendar")
PERMISSIONS = [
    Permission.of("opendays.manage", _l("Schedule, change and cancel open days"),
                  ["school_admin"]),
    Permission.of("opendays.check_in", _l("See registrations and check parents in"),
                  ["school_admin", "teacher"]),
    Permission.of("opendays.push", _l("Push county-wide open days to the schools"),
                  ["bureau_admin", "supervisor"]),
]
__all__ = ["LABEL", "NAME", "bureau", "bureau_blueprint", "public", "school_blueprint", "staff"]


@hookimpl
def kaimen_permissions() -> list[Permission]:
    return PERMISSIONS


@hookimpl
def kaimen_navigation(org: Any, user: Any) -> list[NavItem]:
    if org.is_school:
        items = [NavItem(_l("Open days"), url_for("opendays.index", school=org.slug), order=30)]
        if user_can(user, "opendays.manage", org):
            items.append(NavItem(_l("Manage open days"),
                                 url_for("opendays.manage", school=org.slug), order=31))
        return items
    if user_can(user, "bureau.view", org):
        return [NavItem(_l("Open days"), metrics.link(org), order=30)]
    return []


@hookimpl
def kaimen_school_panels(school: Any) -> list[Panel]:
    return [metrics.panel(school)]


@hookimpl
def kaimen_school_figures(bureau: Any, schools: list[Any]) -> dict[int, Any]:
    return metrics.school_figures(bureau, schools)


@hookimpl
def kaimen_bureau_metrics(bureau: Any, schools: list[Any],
                          figures: dict[int, Any] | None = None) -> MetricTable:
    return metrics.bureau_table(bureau, schools, figures)


@hookimpl
def kaimen_demo_data(bureau: Any, schools: list[Any], users: dict[str, Any]) -> None:
    demo.load(bureau, schools, users)


@hookimpl
def kaimen_track_receipt(receipt: Any) -> Any:
    return public.track_receipt(receipt)
