"""The pledge board (公开承诺 / 承诺牌): public pledges of schools, teachers and the bureau."""

from __future__ import annotations

from typing import Any

from flask import render_template, url_for
from flask_babel import lazy_gettext as _l
from markupsafe import Markup

from kaimen import MetricTable, NavItem, Panel, Permission, hookimpl
from kaimen.auth.access import user_can

from . import metrics, services
from .bureau_views import bureau_blueprint
from .demo import load_demo
from .models import WITHDRAWN
from .views import school_blueprint

NAME = "pledges"
LABEL = _l("Pledge board")

__all__ = ["LABEL", "NAME", "bureau_blueprint", "school_blueprint"]


@hookimpl
def kaimen_permissions() -> list[Permission]:
    return [
        Permission.of("pledges.manage", _l("Publish and edit the school's pledges"),
                      ["school_admin"]),
        Permission.of("pledges.sign", _l("Sign the teacher ethics pledge"), ["teacher"]),
        Permission.of("pledges.bureau", _l("Publish and edit the bureau's pledges"),
                      ["bureau_admin", "supervisor"]),
    ]


@hookimpl
def kaimen_navigation(org: Any, user: Any) -> list[NavItem]:
    if org.is_school:
        items = [NavItem(_l("Pledges"), url_for("pledges.board", school=org.slug), order=20)]
        if user_can(user, "pledges.manage", org):
            items.append(NavItem(_l("Manage pledges"),
                                 url_for("pledges.manage", school=org.slug), order=21))
        return items
    items = [NavItem(_l("Pledges"), url_for("pledges_bureau.board", bureau=org.slug), order=20)]
    if user_can(user, "pledges.bureau", org):
        items.append(NavItem(_l("Manage pledges"),
                             url_for("pledges_bureau.manage", bureau=org.slug), order=21))
    if user_can(user, "bureau.view", org):
        items.append(NavItem(_l("Pledge boards of the schools"),
                             url_for("pledges_bureau.schools", bureau=org.slug), order=22))
    return items


@hookimpl
def kaimen_school_panels(school: Any) -> list[Panel]:
    pledges = [p for p in services.school_pledges() if p.status != WITHDRAWN]
    rendered = render_template("pledges/panel.html", school=school, pledges=pledges)
    html = Markup(rendered)  # noqa: S704 - the template escapes every value it prints
    return [Panel(_l("Our pledges"), html, order=10)]


@hookimpl
def kaimen_bureau_metrics(bureau: Any, schools: list[Any]) -> MetricTable:
    return metrics.pledge_metrics(bureau, schools)


@hookimpl
def kaimen_demo_data(bureau: Any, schools: list[Any], users: dict[str, Any]) -> None:
    load_demo(bureau, schools, users)
