"""The pledge board (公开承诺 / 承诺牌): public pledges of schools, teachers and the bureau."""

from __future__ import annotations

from typing import Any

from flask import url_for
from flask_babel import lazy_gettext as _l
from flask_login import AnonymousUserMixin

from kaimen import (
    MetricTable,
    NavItem,
    Organisation,
    Panel,
    Permission,
    Unit,
    User,
    hookimpl,
    user_can,
)

from . import demo, metrics, services
from .blueprint import bureau_blueprint, school_blueprint
from .views import bureau as bureau_pages  # noqa: F401 - importing the views registers the routes
from .views import public as public_pages  # noqa: F401
from .views import staff as staff_pages  # noqa: F401

NAME = "pledges"
LABEL = _l("Pledge board")
PERMISSIONS = [
    Permission.of("pledges.manage", _l("Publish and edit the school's pledges"),
                  ["school_admin"]),
    Permission.of("pledges.sign", _l("Sign the teacher ethics pledge"), ["teacher"]),
    Permission.of("pledges.bureau", _l("Publish and edit the bureau's pledges"),
                  ["bureau_admin", "supervisor"]),
]

__all__ = ["LABEL", "NAME", "PERMISSIONS", "bureau_blueprint", "school_blueprint"]


@hookimpl
def kaimen_permissions() -> list[Permission]:
    return PERMISSIONS


@hookimpl
def kaimen_navigation(org: Organisation, user: User | AnonymousUserMixin) -> list[NavItem]:
    where: dict[str, Any]
    if org.is_school:
        endpoint, where, manager = "pledges", {"school": org.slug}, "pledges.manage"
    else:
        endpoint, where, manager = "pledges_bureau", {"bureau": org.slug}, "pledges.bureau"
    items = [NavItem(_l("Pledges"), url_for(f"{endpoint}.board", **where), order=20)]
    if user_can(user, manager, org):
        items.append(NavItem(_l("Manage pledges"), url_for(f"{endpoint}.manage", **where),
                             order=21))
    if not org.is_school and user_can(user, "bureau.view", org):
        items.append(NavItem(_l("Pledge boards of the schools"),
                             url_for("pledges_bureau.schools", **where), order=22))
    return items


@hookimpl
def kaimen_school_panels(school: Organisation) -> list[Panel]:
    return [metrics.school_panel(school)]


@hookimpl
def kaimen_staff_panels(school: Organisation, user: User) -> list[Panel]:
    panel = metrics.staff_panel(school, user)
    return [panel] if panel is not None else []


@hookimpl
def kaimen_unit_in_use(unit: Unit) -> list[str]:
    return services.unit_in_use(unit)


@hookimpl
def kaimen_audit_actions() -> dict[str, Any]:
    return services.AUDIT_ACTIONS


@hookimpl
def kaimen_audit_object(
    object_type: str, object_id: str, school: Organisation | None, bureau: Organisation
) -> tuple[Any, str | None] | None:
    if object_type not in ("Pledge", "BureauPledge") or not object_id.isdigit():
        return None
    label = _l("Pledge %(id)s", id=object_id)
    if object_type == "Pledge" and school is not None:
        return label, url_for("pledges.show", school=school.slug, pledge_id=int(object_id))
    return label, url_for("pledges_bureau.show", bureau=bureau.slug,
                          bureau_pledge_id=int(object_id))


@hookimpl
def kaimen_school_figures(bureau: Organisation, schools: list[Organisation]) -> dict[int, Any]:
    return metrics.school_figures(schools)


@hookimpl
def kaimen_bureau_metrics(bureau: Organisation, schools: list[Organisation],
                          figures: dict[int, Any] | None = None) -> MetricTable:
    return metrics.bureau_table(bureau, schools, figures)


@hookimpl
def kaimen_demo_data(
    bureau: Organisation, schools: list[Organisation], users: dict[str, User]
) -> None:
    demo.load(bureau, schools, users)
