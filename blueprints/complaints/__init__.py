"""The complaint box (意见箱): opinions and reports from parents and the public.

Anonymous or named, followed up by receipt code, handled under the
four-not-let-go rule within working-day limits, supervised by the bureau.
"""

from __future__ import annotations

from typing import Any

from flask import url_for
from flask_babel import lazy_gettext as _l

from kaimen import NavItem, Permission, StatementCriteria, hookimpl
from kaimen.auth.access import user_can

from . import hookspecs, metrics, services, views
from .models import HIDE_LEADERSHIP_REPORTS

NAME = views.NAME
HOOKSPECS = hookspecs  # this plugin's own hooks, for plugins that build on it

LABEL = _l("Opinion box")
school_blueprint = views.bp

PERMISSIONS = [
    Permission.of("complaints.view", _l("See the school's opinions"),
                  ["school_admin", "bureau_admin", "supervisor", "leader"]),
    Permission.of("complaints.handle", _l("Handle opinions"),
                  ["school_admin", "bureau_admin", "supervisor"]),
    Permission.of("complaints.enter", _l("Enter opinions received on paper, by phone or in person"),
                  ["school_admin", "teacher", "bureau_admin", "supervisor"]),
    Permission.of("complaints.oversee", _l("See reports about a school's leadership"),
                  ["bureau_admin", "supervisor", "leader"]),
    Permission.of("complaints.supervise", _l("Urge and take over opinions; set time limits"),
                  ["bureau_admin", "supervisor"]),
]


@hookimpl
def kaimen_permissions() -> list[Permission]:
    return PERMISSIONS


@hookimpl
def kaimen_navigation(org: Any, user: Any) -> list[NavItem]:
    if org.is_school:
        items = [NavItem(LABEL, url_for("complaints.new", school=org.slug), order=20)]
        if user_can(user, "complaints.view", org):
            items.append(NavItem(_l("Opinions received"),
                                 url_for("complaints.cases", school=org.slug), order=21))
        elif user_can(user, "complaints.enter", org):
            items.append(NavItem(_l("Enter an opinion"),
                                 url_for("complaints.enter", school=org.slug), order=21))
        return items
    if user_can(user, "complaints.oversee", org):
        return [NavItem(_l("Opinions"), url_for("complaints_bureau.cases", bureau=org.slug),
                        order=20)]
    return []


@hookimpl
def kaimen_school_panels(school: Any) -> list[Any]:
    return [metrics.school_panel(school)]


@hookimpl
def kaimen_bureau_metrics(bureau: Any, schools: list[Any]) -> Any:
    return metrics.bureau_table(bureau, schools)


@hookimpl
def kaimen_statement_criteria() -> list[StatementCriteria]:
    return [HIDE_LEADERSHIP_REPORTS]


@hookimpl
def kaimen_track_receipt(receipt: Any) -> Any:
    return views.track_receipt(receipt)


@hookimpl
def kaimen_report_link(school: Any, reference: str, title: str) -> str | None:
    return url_for("complaints.new", school=school.slug, ref=reference, title=title[:120])


@hookimpl
def kaimen_report_counts(schools: list[Any], references: list[str]) -> dict[str, tuple[int, int]]:
    return metrics.report_counts(schools, references)


@hookimpl
def kaimen_demo_data(bureau: Any, schools: list[Any], users: dict[str, Any]) -> None:
    from .demo import load

    load(bureau, schools, users)


@hookimpl
def kaimen_cli(group: Any) -> None:
    from .commands import register

    register(group)


from . import bureau_views, entry_views, staff_views  # noqa: E402,F401 - register the routes

bureau_blueprint = bureau_views.bp


@hookimpl
def kaimen_complaint_file_opinion(school: Any, subject: str, text: str, channel: str,
                                  actor: Any) -> str:
    case = services.file_opinion(school, subject, text, channel, actor)
    return url_for("complaints.show", school=school.slug, complaint_id=case.id)
