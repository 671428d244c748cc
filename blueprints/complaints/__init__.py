"""The complaint box (意见箱): opinions and reports from parents and the public.

Anonymous or named, followed up by receipt code, handled under the
four-not-let-go rule within working-day limits, supervised by the bureau.
"""

from __future__ import annotations

from typing import Any

import click
from flask import has_request_context, url_for
from flask_babel import lazy_gettext as _l

from kaimen import (
    MetricTable,
    NavItem,
    Organisation,
    Panel,
    Permission,
    StatementCriteria,
    User,
    hookimpl,
    receipts,
    user_can,
)

from . import commands, demo, hookspecs, metrics, queries, services
from .blueprint import NAME, bureau_blueprint, school_blueprint
from .models import HIDE_LEADERSHIP_REPORTS
from .views import bureau as bureau_pages  # noqa: F401 - registers the routes
from .views import public as public_pages
from .views import staff as staff_pages  # noqa: F401

__all__ = ["HOOKSPECS", "LABEL", "NAME", "PERMISSIONS", "bureau_blueprint", "school_blueprint"]

HOOKSPECS = hookspecs  # this plugin's own hooks, for plugins that build on it
LABEL = _l("Opinion box")

PERMISSIONS = [
    Permission.of("complaints.view", _l("See the school's opinions"),
                  ["school_admin", "bureau_admin", "supervisor", "leader"]),
    Permission.of("complaints.handle", _l("Handle opinions"),
                  ["school_admin", "bureau_admin", "supervisor"]),
    Permission.of("complaints.open",
                  _l("Open opinions: all of the school's, or those one is in charge of"),
                  ["school_admin", "teacher", "bureau_admin", "supervisor", "leader"]),
    Permission.of("complaints.work",
                  _l("Verify, handle and answer the opinions one is in charge of"),
                  ["school_admin", "teacher", "bureau_admin", "supervisor"]),
    Permission.of("complaints.enter", _l("Enter opinions received on paper, by phone or in person"),
                  ["school_admin", "teacher", "bureau_admin", "supervisor"]),
    Permission.of("complaints.oversee", _l("See reports about a school's leadership"),
                  ["bureau_admin", "supervisor", "leader"]),
    Permission.of("complaints.supervise", _l("Urge and take over opinions; set time limits"),
                  ["bureau_admin", "supervisor"]),
    Permission.of("complaints.instruct",
                  _l("Give instructions on opinions (批示), which the school sees"),
                  ["leader"]),
    Permission.of("complaints.alerts",
                  _l("Receive notices of overdue opinions and of dissatisfied complainants"),
                  ["supervisor"]),
]


@hookimpl
def kaimen_permissions() -> list[Permission]:
    return PERMISSIONS


@hookimpl
def kaimen_navigation(org: Organisation, user: User | Any) -> list[NavItem]:
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
def kaimen_school_panels(school: Organisation) -> list[Panel]:
    return [metrics.school_panel(school)]


@hookimpl
def kaimen_staff_panels(school: Organisation, user: User) -> list[Panel]:
    return metrics.my_cases_panel(school, user)


@hookimpl
def kaimen_school_figures(bureau: Organisation, schools: list[Organisation]) -> dict[int, Any]:
    return metrics.school_figures(bureau, schools)


@hookimpl
def kaimen_bureau_metrics(bureau: Organisation, schools: list[Organisation],
                          figures: dict[int, Any] | None = None) -> MetricTable:
    return metrics.bureau_table(bureau, schools, figures)


@hookimpl
def kaimen_audit_actions() -> dict[str, Any]:
    return services.AUDIT_ACTIONS


@hookimpl
def kaimen_audit_object(
    object_type: str, object_id: str, school: Organisation | None, bureau: Organisation
) -> tuple[Any, str | None] | None:
    if object_type != "Complaint" or school is None or not object_id.isdigit():
        return None
    return (_l("Opinion %(id)s", id=object_id),
            url_for("complaints.show", school=school.slug, complaint_id=int(object_id)))


@hookimpl
def kaimen_statement_criteria() -> list[StatementCriteria]:
    return [HIDE_LEADERSHIP_REPORTS]


@hookimpl
def kaimen_track_receipt(receipt: receipts.Receipt) -> Any:
    return public_pages.track_receipt(receipt)


@hookimpl
def kaimen_report_link(school: Organisation, reference: str, title: str) -> str | None:
    return url_for("complaints.new", school=school.slug, ref=reference, title=title[:120])


@hookimpl
def kaimen_report_counts(
    schools: list[Organisation], references: list[str]
) -> dict[str, tuple[int, int]]:
    return metrics.report_counts(schools, references)


@hookimpl
def kaimen_complaint_cases(
    school: Organisation, ids: list[int]
) -> list[tuple[int, str, Any, bool, str]]:
    def link(case_id: int) -> str:  # no link outside a request (a command, the demo)
        return (url_for("complaints.show", school=school.slug, complaint_id=case_id)
                if has_request_context() else "")

    return [(*case, link(case[0])) for case in queries.cases_by_id(school, ids)]


@hookimpl
def kaimen_complaint_choices(school: Organisation) -> list[tuple[int, str]]:
    return queries.case_choices(school)


@hookimpl
def kaimen_demo_data(bureau: Organisation, schools: list[Organisation],
                     users: dict[str, User]) -> None:
    demo.load(bureau, schools, users)


@hookimpl
def kaimen_cli(group: click.Group) -> None:
    commands.register(group)


@hookimpl
def kaimen_complaint_file_opinion(school: Organisation, subject: str, text: str, channel: str,
                                  actor: User | None) -> str:
    case = services.file_opinion(school, subject, text, channel, actor)
    return url_for("complaints.show", school=school.slug, complaint_id=case.id)
