"""The home-visit book (家访记载簿): class teachers log visits, the school sees who is not reached.

Students and guardians live in this plugin only; nothing above the school sees a
name, a student number or a phone, only counts and rates.
"""

from __future__ import annotations

from typing import Any

import click
from flask import url_for
from flask_babel import lazy_gettext as _l

from kaimen import MetricTable, NavItem, Organisation, Permission, User, hookimpl, user_can

from . import commands, demo, metrics
from .blueprint import bureau_blueprint, school_blueprint
from .views import bureau as bureau_pages  # noqa: F401 - importing the views registers the routes
from .views import staff as staff_pages  # noqa: F401

NAME = "homevisits"
LABEL = _l("Home-visit book")
PERMISSIONS = [
    Permission.of("homevisits.log", _l("Log home visits of one's classes"),
                  ["teacher", "school_admin"]),
    Permission.of("homevisits.manage",
                  _l("See every home visit of the school, import its roster"), ["school_admin"]),
]

__all__ = ["LABEL", "NAME", "PERMISSIONS", "bureau_blueprint", "school_blueprint"]


@hookimpl
def kaimen_permissions() -> list[Permission]:
    return PERMISSIONS


@hookimpl
def kaimen_navigation(org: Organisation, user: Any) -> list[NavItem]:
    if not org.is_school:
        if user_can(user, "bureau.view", org):
            return [NavItem(_l("Home visits"),
                            url_for("homevisits_bureau.schools", bureau=org.slug), order=40)]
        return []
    items = []
    if user_can(user, "homevisits.log", org):
        items.append(NavItem(_l("My classes"), url_for("homevisits.my_classes", school=org.slug),
                             order=40))
    if user_can(user, "homevisits.manage", org):
        items.append(NavItem(_l("Home visits"), url_for("homevisits.coverage", school=org.slug),
                             order=41))
    return items


@hookimpl
def kaimen_school_figures(bureau: Organisation, schools: list[Organisation]) -> dict[int, Any]:
    return metrics.school_figures(bureau, schools)


@hookimpl
def kaimen_bureau_metrics(bureau: Organisation, schools: list[Organisation],
                          figures: dict[int, Any] | None = None) -> MetricTable:
    return metrics.bureau_table(bureau, schools, figures)


@hookimpl
def kaimen_cli(group: click.Group) -> None:
    commands.register(group)


@hookimpl
def kaimen_demo_data(
    bureau: Organisation, schools: list[Organisation], users: dict[str, User]
) -> None:
    demo.load(bureau, schools, users)
