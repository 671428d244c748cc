"""Case lists: filters from the query string, and the export of what they select."""

from __future__ import annotations

from datetime import date
from typing import Any
from urllib.parse import urlencode

import sqlalchemy as sa
from flask import request
from flask_babel import gettext as _
from sqlalchemy.orm import lazyload, selectinload

from kaimen import User, db, id_arg, local_date, table_response

from .choices import (
    CATEGORIES,
    CHANNELS,
    FINDINGS,
    KINDS,
    OPEN_STATUSES,
    REWARD_STATUSES,
    STATUSES,
)
from .models import Complaint
from .queries import cases_among
from .services import is_overdue, overdue_clause

EXPORT_CHUNK = 500  # cases read at a time by an export
OPEN = "open"  # the status filter's value for every open state
FILTERS = ("status", "category", "channel", "kind", "owner", "overdue", "flagged", "school",
           "since", "until", "q")


def _date_arg(name: str) -> date | None:
    try:
        return date.fromisoformat(request.args.get(name, ""))
    except ValueError:
        return None


def filtered(bureau: Any, *, leadership: bool, school_ids: list[int]) -> Any:
    """Return the SELECT of cases matching the request's filters, newest first."""
    args = request.args
    # A list shows each person in charge by name: not their role grants, which a user
    # otherwise brings along (a query for every page and export chunk).
    statement = cases_among(sa.select(Complaint).options(
        selectinload(Complaint.owner).options(lazyload(User.grants)),
        selectinload(Complaint.school),
    ), school_ids, leadership=leadership)
    for name, column, allowed in (("status", Complaint.status, STATUSES),
                                  ("category", Complaint.category, CATEGORIES),
                                  ("channel", Complaint.channel, CHANNELS),
                                  ("kind", Complaint.kind, KINDS)):
        if args.get(name) in allowed:
            statement = statement.where(column == args[name])
    if args.get("status") == OPEN:  # every state before closing: the umbrella's "Open"
        statement = statement.where(Complaint.status.in_(OPEN_STATUSES))
    if (owner_id := id_arg("owner")) is not None:
        statement = statement.where(Complaint.owner_id == owner_id)
    if (school_id := id_arg("school")) is not None:
        statement = statement.where(Complaint.school_id == school_id)
    if args.get("overdue") == "1":
        statement = statement.where(overdue_clause(local_date(bureau)))
    if args.get("flagged") == "1":
        statement = statement.where(Complaint.flagged_for_bureau.is_(True))
    if leadership and args.get("leadership") == "1":
        statement = statement.where(Complaint.about_leadership.is_(True))
    return _dates_and_text(statement).order_by(Complaint.created_at.desc(), Complaint.id.desc())


def _dates_and_text(statement: Any) -> Any:
    since, until = _date_arg("since"), _date_arg("until")
    if since:
        statement = statement.where(Complaint.received_on >= since)
    if until:
        statement = statement.where(Complaint.received_on <= until)
    text = request.args.get("q", "").strip()[:100]
    if text:
        number = text.lstrip("#")
        condition = sa.or_(Complaint.subject.icontains(text, autoescape=True),
                           Complaint.description.icontains(text, autoescape=True))
        if number.isdigit() and len(number) < 10:
            condition = sa.or_(condition, Complaint.id == int(number))
        statement = statement.where(condition)
    return statement


def filter_values() -> dict[str, str]:
    """Return the filters of the request, for the form and the export links."""
    return {name: request.args.get(name, "") for name in FILTERS + ("leadership",)}


def query_string(values: dict[str, str]) -> str:
    """Return ``?…`` with the filters that are set, for the export links."""
    chosen = {name: value for name, value in values.items() if value}
    return f"?{urlencode(chosen)}" if chosen else ""


def export(statement: Any, fmt: str, filename: str, *, with_school: bool,
           leadership_column: bool, today: date) -> Any:
    """Return the selected cases as CSV or XLSX, with every column a supervisor audits (the
    four not-let-go items among them); anonymous complainants stay anonymous."""
    headers = [_("No."), _("Received on"), _("Channel"), _("Kind"), _("Area"), _("Subject"),
               _("Content"), _("Complainant"), _("State"), _("Person in charge"),
               _("Acknowledgement due"), _("Answer due"), _("Overdue"), _("Urged"),
               _("Handled by the bureau"), _("Not accepted"), _("Finding"), _("Verified facts"),
               _("Action taken"), _("Correction or discipline"), _("Answer"), _("Answered on"),
               _("Answered on time"), _("Satisfied"), _("Reporting reward")]
    if with_school:
        headers.insert(1, _("School"))
    if leadership_column:
        headers.append(_("About the leadership"))

    # Labels translated once per export, not once per row: 100,000 rows stay quick.
    labels = {name: {key: str(label) for key, label in choices.items()} for name, choices in
              (("channel", CHANNELS), ("kind", KINDS), ("category", CATEGORIES),
               ("status", STATUSES), ("finding", FINDINGS), ("reward", REWARD_STATUSES))}
    yes, no, anonymous = _("Yes"), _("No"), _("Anonymous")
    yes_no = {None: "", True: yes, False: no}

    def rows() -> Any:
        # Read in chunks (a server-side cursor on PostgreSQL): a 100,000-case export streams.
        for case in db.session.scalars(statement.execution_options(yield_per=EXPORT_CHUNK)):
            row = [case.id, case.received_on, labels["channel"][case.channel],
                   labels["kind"][case.kind], labels["category"][case.category], case.subject,
                   case.description, anonymous if case.anonymous else case.contact_name,
                   labels["status"][case.status], case.owner.display_name if case.owner else "",
                   case.ack_due, case.answer_due, yes if is_overdue(case, today) else "",
                   case.urged_count or "", yes if case.handled_by_bureau else "",
                   case.rejection_reason or "",
                   labels["finding"][case.finding] if case.finding else "", case.verified_facts,
                   case.action_taken, case.correction, case.answer,
                   local_date(case.school.bureau(), case.answered_at)
                   if case.answered_at else "",
                   yes_no[case.answered_on_time], yes_no[case.satisfied],
                   labels["reward"][case.reward_status] if case.reward_status else ""]
            if with_school:
                row.insert(1, case.school.name)
            if leadership_column:
                row.append(yes if case.about_leadership else "")
            yield row

    return table_response(f"{filename}-{today.isoformat()}", headers, rows(), fmt)

