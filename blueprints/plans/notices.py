"""Messages to the outbox about plans and ledger items, in the bureau's language.

Nothing is sent from here: ``kaimen.notify.enqueue`` writes to the outbox in the
caller's transaction and ``flask kaimen notify`` delivers.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from flask import current_app
from flask_babel import force_locale
from flask_babel import gettext as _

from kaimen import Organisation, User, holders, hook_for, notify

from .models import ITEM_STATUSES, MANAGE_PERMISSIONS, Measure, Plan


def school_admins(school: Organisation) -> list[User]:
    """Return the owner's own staff who draft its plan and report its progress: a school's
    admins, or the bureau's admins for the bureau's own plan."""
    return holders(MANAGE_PERMISSIONS[school.kind], school, reach="own")


def supervisors(school: Organisation) -> list[User]:
    """Return the bureau's people who review plans and sign off items (of the bureau's own
    plan too: the supervisors of the bureau and of the bureaus above it)."""
    return holders("plans.review", school, reach="above" if school.is_school else "all")


def followers(school: Organisation) -> list[Any]:
    """Return the people linked to the school by other plugins (leader, packaging units)."""
    people: list[Any] = []
    if not school.is_school:
        return people  # leaders and units are linked to schools, not to their own bureau
    try:
        hook = hook_for(school, "kaimen_plan_reviewers")
    except AttributeError:  # pragma: no cover - the spec is this plugin's own
        return people
    for answer in hook(school=school):
        people += list(answer or [])
    return people


def _unique(people: Iterable[Any]) -> list[Any]:
    seen, result = set(), []
    for person in people:
        key = getattr(person, "email", None) or getattr(person, "phone", None)
        if key and key not in seen:
            seen.add(key)
            result.append(person)
    return result


def _send(people: Iterable[Any], school: Organisation, subject: str, body: str) -> None:
    for person in _unique(people):
        email, phone = getattr(person, "email", None), getattr(person, "phone", None)
        if email:
            notify.enqueue(notify.EMAIL, email, body, subject=subject, school=school)
        elif phone:
            notify.enqueue(notify.SMS, phone, body, subject=subject, school=school)


def _url(path: str) -> str:
    return current_app.config["BASE_URL"].rstrip("/") + path


def _page(org: Organisation, path: str) -> str:
    """Return the address of a page of ``org``'s plan: a school's, or the bureau's own."""
    if org.is_school:
        return _url(f"/s/{org.slug}/plans/{path}")
    return _url(f"/b/{org.slug}/plans/own/{path}")


def _locale(school: Organisation) -> str:
    return school.bureau().default_locale or current_app.config["DEFAULT_LOCALE"]


def awaiting_review(plan: Plan) -> None:
    """Tell the supervisors and the school's followers that a plan awaits review."""
    school = plan.school
    with force_locale(_locale(school)):
        subject = _("Rectification plan of %(school)s awaits review", school=school.name)
        body = _("%(school)s submitted version %(number)d of its rectification plan: %(url)s",
                 school=school.name, number=len(plan.versions),
                 url=_page(school, f"{plan.id}/review"))
    _send(supervisors(school) + followers(school), school, subject, body)


def decided(plan: Plan, approved: bool) -> None:
    """Tell the school's admins that their plan was approved or returned."""
    school = plan.school
    with force_locale(_locale(school)):
        subject = (_("Your rectification plan was approved") if approved
                   else _("Your rectification plan was returned"))
        body = subject + ": " + _page(school, str(plan.id))
    _send(school_admins(school) + followers(school), school, subject, body)


def item_changed(measure: Measure, what: Any) -> None:
    """Tell the school's admins and followers that a ledger item changed (``what`` says how)."""
    school = measure.plan.school
    with force_locale(_locale(school)):
        subject = _("Rectification item: %(what)s", what=str(what))
        body = "\n".join([
            measure.action,
            _("Status: %(status)s", status=ITEM_STATUSES[measure.status]),
            _page(school, f"items/{measure.id}"),
        ])
    _send(school_admins(school) + followers(school), school, subject, body)


def urged(measure: Measure, text: str) -> None:
    """Tell the school's admins and followers of a supervisor's urging (督办)."""
    school = measure.plan.school
    with force_locale(_locale(school)):
        subject = _("Urging: a rectification item of %(school)s", school=school.name)
        body = "\n".join([
            measure.action, text,
            _("Report by %(date)s.", date=measure.urged_until.isoformat()
              if measure.urged_until else ""),
            _page(school, f"items/{measure.id}"),
        ])
    _send(school_admins(school) + followers(school), school, subject, body)
