"""The supervisor's page over the audit log of the bureau's schools."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from flask import Blueprint, g, render_template, request

from .. import orgs
from ..audit import AuditEvent
from ..auth.access import require
from ..pagination import paginate

bp = Blueprint("audit", __name__)


def _date(value: str | None) -> datetime | None:
    try:
        return datetime.strptime(value or "", "%Y-%m-%d")
    except ValueError:
        return None


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
    if action := request.args.get("action", "").strip():
        query = query.where(AuditEvent.action.startswith(action[:80]))
    if actor := request.args.get("actor", "").strip():
        query = query.where(AuditEvent.actor_name == actor[:120].lower())
    if since := _date(request.args.get("since")):
        query = query.where(AuditEvent.created_at >= since)
    if until := _date(request.args.get("until")):
        query = query.where(AuditEvent.created_at < until + timedelta(days=1))
    page = paginate(query.order_by(AuditEvent.created_at.desc(), AuditEvent.id.desc()), per_page=50)
    return render_template(
        "kaimen/admin/audit.html", bureau=bureau, schools=schools, page=page, args=request.args
    )
