"""The supervisor's page over the audit log of the bureau's schools.

Events are shown in words: each action by the label its plugin (or the core) gives it
through ``kaimen_audit_actions``, each person by display name, each object as a link to
where it can be seen (``kaimen_audit_object``). Logins and logouts have a filter of their
own, so that they do not drown the changes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from flask import Blueprint, g, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from .. import orgs, plugins
from ..audit import AuditEvent
from ..auth.access import require
from ..auth.models import User
from ..extensions import db
from ..pagination import paginate

bp = Blueprint("audit", __name__)

LOGINS = ("account.login", "account.logout")
# The shown choices of the logins filter: changes only (the default), logins only, or both.
LOGIN_CHOICES = ("", "only", "all")
CORE_ACTIONS = {
    "account.login": _l("Logged in"),
    "account.logout": _l("Logged out"),
    "account.password_changed": _l("Changed their password"),
    "audit.rechained": _l("Audit log re-keyed"),
    "org.profile_changed": _l("Public contact details changed"),
    "plugin.enabled": _l("Feature switched on"),
    "plugin.disabled": _l("Feature switched off"),
    "tenants.loaded": _l("Tenants file loaded"),
    "unit.deleted": _l("Department or unit deleted"),
    "user.created": _l("Account created"),
    "user.enabled": _l("Account enabled"),
    "user.disabled": _l("Account disabled"),
}


@dataclass
class Row:
    """One event as the page shows it."""

    event: AuditEvent
    action: str
    actor: str
    object_label: str
    object_url: str | None


def action_labels() -> dict[str, str]:
    """Return ``{action: translated label}`` of the core's and every plugin's actions."""
    labels: dict[str, Any] = dict(CORE_ACTIONS)
    for answer in plugins.state().manager.hook.kaimen_audit_actions():
        labels.update(answer or {})
    return {action: str(label) for action, label in labels.items()}


def _date(value: str | None) -> datetime | None:
    try:
        return datetime.strptime(value or "", "%Y-%m-%d")
    except ValueError:
        return None


def _object_number(event: AuditEvent, object_type: str) -> int | None:
    """Return the id of the event's object if it is an ``object_type``, else None."""
    value = event.object_id or ""
    return int(value) if event.object_type == object_type and value.isdigit() else None


def _core_object(event: AuditEvent, by_id: dict[int, Any], people: dict[int, User]) -> Any:
    """Return ``(label, url)`` of an organisation or account, or None for other objects."""
    number = _object_number(event, event.object_type or "") or 0
    if event.object_type == "Organisation" and number in by_id:
        org = by_id[number]
        endpoint = ("core.school_home", "school") if org.is_school else ("core.bureau_home",
                                                                          "bureau")
        return org.display_name(), url_for(endpoint[0], **{endpoint[1]: org.slug})
    if event.object_type == "User":
        person = people.get(number)
        return (person.display_name if person else _("Account %(id)s", id=event.object_id)), None
    return None


def _rows(events: list[AuditEvent], bureau: orgs.Organisation) -> list[Row]:
    """Put each event in words with a fixed number of queries for the whole page."""
    labels = action_labels()
    ids = {e.actor_id for e in events if e.actor_id} | {
        n for e in events if (n := _object_number(e, "User")) is not None
    }
    people = {u.id: u for u in db.session.scalars(sa.select(User).where(User.id.in_(ids)))}
    wanted = {e.bureau_id for e in events} | {e.school_id for e in events if e.school_id} | {
        n for e in events if (n := _object_number(e, "Organisation")) is not None
    }
    by_id = {o.id: o for o in db.session.scalars(
        sa.select(orgs.Organisation).where(orgs.Organisation.id.in_(wanted)))}
    rows = []
    for event in events:
        actor = people.get(event.actor_id or 0)
        name = actor.display_name if actor else (
            _("The public") if event.actor_name == "public" else event.actor_name)
        found = None
        if event.object_type:
            school = by_id.get(event.school_id or 0)
            # a plugin switched off for the school is not asked: its pages answer 404 there
            found = _core_object(event, by_id, people) or plugins.hook_for(
                school, "kaimen_audit_object"
            )(object_type=event.object_type, object_id=event.object_id or "", school=school,
              bureau=by_id[event.bureau_id])
        label, url = found or (f"{event.object_type} {event.object_id or ''}".strip(), None)
        rows.append(Row(event, labels.get(event.action, event.action), name, str(label), url))
    return rows


@bp.get("/b/<bureau>/audit/")
@require("audit.view")
def bureau_log() -> Any:
    """List and filter the audit events of the bureau and its schools."""
    bureau = g.bureau
    schools = orgs.schools_under(bureau)
    school_ids = [s.id for s in schools]
    query = sa.select(AuditEvent).where(
        sa.or_(AuditEvent.school_id.in_(school_ids), AuditEvent.bureau_id == bureau.id)
    )
    school_slug = request.args.get("school", "")
    chosen = next((s for s in schools if s.slug == school_slug), None)
    if chosen is not None:
        query = query.where(AuditEvent.school_id == chosen.id)
    labels = action_labels()
    if action := request.args.get("action", "").strip()[:80]:
        query = query.where(
            AuditEvent.action == action if action in labels
            else AuditEvent.action.startswith(action)
        )
    logins = request.args.get("logins", "")
    if logins == "only":
        query = query.where(AuditEvent.action.in_(LOGINS))
    elif logins != "all" and action not in LOGINS:
        query = query.where(AuditEvent.action.not_in(LOGINS))
    if actor := request.args.get("actor", "").strip():
        query = query.where(AuditEvent.actor_name == actor[:120].lower())
    if since := _date(request.args.get("since")):
        query = query.where(AuditEvent.created_at >= since)
    if until := _date(request.args.get("until")):
        query = query.where(AuditEvent.created_at < until + timedelta(days=1))
    page = paginate(query.order_by(AuditEvent.created_at.desc(), AuditEvent.id.desc()), per_page=50)
    choices = sorted(((a, label) for a, label in labels.items() if a not in LOGINS),
                     key=lambda choice: choice[1])
    return render_template(
        "kaimen/admin/audit.html", bureau=bureau, schools=schools, page=page, args=request.args,
        rows=_rows(list(page.items), bureau), action_choices=choices, action=action,
    )
