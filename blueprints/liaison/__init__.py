"""Dual-link, dual-package (双联双包): leaders linked to schools, units packaging them, visits.

A bureau-level plugin: assignments per school year with a coverage check
(``/b/<bureau>/liaison/``), each leader's and unit member's own schools
(``/mine``), liaison visits, and on a school's staff page its linked leader and
packaging units. Tells linked people of overdue complaints through the complaint
box's hook, and offers the umbrella view its leader and unit filters.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from flask import url_for
from flask_babel import lazy_gettext as _l

from kaimen import (
    MetricTable,
    NavItem,
    Organisation,
    Panel,
    Permission,
    SchoolGroup,
    Trend,
    Unit,
    hookimpl,
    user_can,
)

from . import demo, metrics, services, tenants
from .blueprint import bureau_blueprint, school_blueprint
from .views import bureau as bureau_views
from .views import staff as staff_views

NAME = "liaison"
LABEL = _l("Dual-link, dual-package")
PERMISSIONS = [
    Permission.of("liaison.assign", _l("Assign linked leaders and packaging units"),
                  ["bureau_admin"]),
    Permission.of("liaison.link", _l("Be linked to schools as a bureau leader"), ["leader"]),
    Permission.of("liaison.package", _l("Package schools as a member of a unit"),
                  ["unit_staff"]),
    Permission.of("liaison.visit", _l("Log liaison visits to one's schools"),
                  ["leader", "unit_staff"]),
    Permission.of("liaison.view", _l("See linked leaders, packaging units and liaison visits"),
                  ["school_admin", "bureau_admin", "supervisor", "leader", "unit_staff"]),
]
__all__ = ["NAME", "bureau_blueprint", "bureau_views", "school_blueprint", "staff_views"]


@hookimpl
def kaimen_permissions() -> list[Permission]:
    return PERMISSIONS


@hookimpl
def kaimen_navigation(org: Organisation, user: Any) -> list[NavItem]:
    if org.is_school:
        if user_can(user, "liaison.view", org):
            return [NavItem(_l("Linked leader"), url_for("liaison.school_liaison",
                                                         school=org.slug), order=70)]
        return []
    items = []
    if user_can(user, "liaison.visit", org):
        items.append(NavItem(_l("My schools"), url_for("liaison_bureau.my_schools",
                                                       bureau=org.slug), order=5))
    if user_can(user, "liaison.view", org):
        items.append(NavItem(_l("Dual-link, dual-package"),
                             url_for("liaison_bureau.overview", bureau=org.slug), order=60))
    return items


@hookimpl
def kaimen_school_figures(bureau: Organisation, schools: list[Organisation]) -> dict[int, Any]:
    return metrics.school_figures(bureau, schools)


@hookimpl
def kaimen_bureau_metrics(bureau: Organisation, schools: list[Organisation],
                          figures: dict[int, Any] | None = None) -> MetricTable:
    return metrics.bureau_metrics(bureau, schools, figures)


@hookimpl
def kaimen_staff_panels(school: Organisation, user: Any) -> list[Panel]:
    return metrics.staff_panel(school, user)


@hookimpl
def kaimen_bureau_trends(bureau: Organisation, schools: list[Organisation],
                         months: list[date], figures: dict[int, Any] | None = None
                         ) -> list[Trend]:
    return [metrics.visit_trend(schools, months, figures)]


@hookimpl
def kaimen_school_groups(bureau: Organisation, user: Any) -> list[SchoolGroup]:
    return metrics.school_groups(bureau, user)


@hookimpl
def kaimen_tenant_sections() -> dict[str, Any]:
    return {"liaison_link": tenants.load_links, "liaison_package": tenants.load_packages}


@hookimpl
def kaimen_demo_data(bureau: Organisation, schools: list[Organisation], users: dict) -> None:
    demo.load(bureau, schools, users)


@hookimpl
def kaimen_unit_in_use(unit: Unit) -> list[str]:
    return services.unit_in_use(unit)


@hookimpl(optionalhook=True)
def kaimen_complaint_overdue_recipients(school: Organisation, complaint: Any) -> list[Any]:
    return services.overdue_recipients(school, bool(getattr(complaint, "about_leadership", False)))


@hookimpl(optionalhook=True)
def kaimen_plan_reviewers(school: Organisation) -> list[Any]:
    return services.overdue_recipients(school, about_leadership=False)
