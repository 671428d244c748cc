"""The rules of the pledge board: no silent edits, withdrawals need a reason, own signatures."""

from __future__ import annotations

import io
from datetime import date
from typing import Any

import segno
import sqlalchemy as sa
from flask_babel import lazy_gettext as _l

from kaimen import audit, plugins
from kaimen.auth.access import user_can
from kaimen.extensions import db
from kaimen.forms import is_school_year
from kaimen.orgs import Organisation
from kaimen.timeutil import utcnow

from .models import (
    ACTIVE,
    ETHICS,
    FULFILLED,
    WITHDRAWN,
    BureauPledge,
    BureauPledgeUpdate,
    BureauPledgeVersion,
    Pledge,
    PledgeSignature,
    PledgeUpdate,
    PledgeVersion,
)

AnyPledge = Pledge | BureauPledge
CONTENT_FIELDS = ("title", "text", "answerable", "school_year")


class PledgeError(ValueError):
    """A change the rules refuse; the message is translated and meant for the user."""


def school_year_of(day: date) -> str:
    """Return the school year a day falls in; a school year starts in September."""
    start = day.year if day.month >= 9 else day.year - 1
    return f"{start}-{start + 1}"


def current_school_year() -> str:
    """Return the school year of today (UTC)."""
    return school_year_of(utcnow().date())


def _audit(action: str, pledge: AnyPledge, actor: Any, data: dict | None = None) -> None:
    if isinstance(pledge, Pledge):
        audit.record(action, pledge, school=pledge.school, data=data, actor=actor)
    else:
        audit.record(action, pledge, bureau=pledge.bureau, data=data, actor=actor)


def _snapshot(pledge: AnyPledge, editor: Any) -> None:
    values = {
        "number": len(pledge.versions) + 1,
        "edited_at": utcnow(),
        "editor_id": editor.id if editor is not None else None,
        "editor_name": editor.display_name if editor is not None else "system",
        **{field: getattr(pledge, field) for field in CONTENT_FIELDS},
    }
    if isinstance(pledge, Pledge):
        pledge.versions.append(PledgeVersion(school_id=pledge.school_id, **values))
    else:
        pledge.versions.append(BureauPledgeVersion(**values))


def _clean(content: dict[str, Any]) -> dict[str, str]:
    values = {field: (content.get(field) or "").strip() for field in CONTENT_FIELDS}
    if not all(values.values()):
        raise PledgeError(
            _l("Fill in the title, the text, who answers for it and the school year.")
        )
    if not is_school_year(values["school_year"]):
        raise PledgeError(_l("Write the school year as two consecutive years, e.g. 2026-2027."))
    return values


def publish_school_pledge(school: Organisation, kind: str, actor: Any, **content: Any) -> Pledge:
    """Publish a school pledge and keep its first version."""
    pledge = Pledge(school_id=school.id, school=school, kind=kind, status=ACTIVE, **_clean(content))
    db.session.add(pledge)
    _snapshot(pledge, actor)
    db.session.flush()  # the audit event names the pledge by its id
    _audit("pledge.published", pledge, actor, {"kind": kind, "title": pledge.title})
    return pledge


def publish_bureau_pledge(
    bureau: Organisation, unit_id: int | None, actor: Any, **content: Any
) -> BureauPledge:
    """Publish a pledge of the bureau (or of one of its units) and keep its first version."""
    pledge = BureauPledge(bureau_id=bureau.id, bureau=bureau, unit_id=unit_id, status=ACTIVE,
                          **_clean(content))
    db.session.add(pledge)
    _snapshot(pledge, actor)
    db.session.flush()  # the audit event names the pledge by its id
    _audit("pledge.published", pledge, actor, {"unit_id": unit_id, "title": pledge.title})
    return pledge


def edit(pledge: AnyPledge, actor: Any, **content: Any) -> bool:
    """Change a pledge's content, keeping the earlier text as a version; False if unchanged."""
    if pledge.status == WITHDRAWN:
        raise PledgeError(_l("A withdrawn pledge cannot be edited."))
    values = _clean(content)
    changed = sorted(f for f in CONTENT_FIELDS if values[f] != getattr(pledge, f))
    if not changed:
        return False
    for field in changed:
        setattr(pledge, field, values[field])
    pledge.edited_at = utcnow()
    _snapshot(pledge, actor)
    _audit("pledge.edited", pledge, actor, {"fields": changed, "version": len(pledge.versions)})
    return True


def set_status(pledge: AnyPledge, status: str, reason: str | None, actor: Any) -> None:
    """Mark an active pledge fulfilled or withdrawn; withdrawing needs a public reason."""
    reason = (reason or "").strip()
    if status not in (FULFILLED, WITHDRAWN):
        raise PledgeError(_l("Choose whether the pledge was fulfilled or is withdrawn."))
    if pledge.status != ACTIVE:
        raise PledgeError(_l("Only an active pledge can change its status."))
    if status == WITHDRAWN and not reason:
        raise PledgeError(_l("Give the public reason for withdrawing the pledge."))
    pledge.status, pledge.status_reason, pledge.status_changed_at = status, reason or None, utcnow()
    _audit(f"pledge.{status}", pledge, actor, {"reason": reason} if reason else None)


def add_update(pledge: AnyPledge, text: str, actor: Any) -> None:
    """Add a dated public progress note to a pledge."""
    text = (text or "").strip()
    if not text:
        raise PledgeError(_l("Write the progress update."))
    if isinstance(pledge, Pledge):
        update: Any = PledgeUpdate(pledge_id=pledge.id, school_id=pledge.school_id, text=text,
                                   author_id=actor.id if actor else None, created_at=utcnow())
    else:
        update = BureauPledgeUpdate(pledge_id=pledge.id, text=text,
                                    author_id=actor.id if actor else None, created_at=utcnow())
    pledge.updates.insert(0, update)
    _audit("pledge.progress", pledge, actor, {"text": text})


def sign(pledge: Pledge, user: Any) -> PledgeSignature:
    """Record ``user``'s own signature under a teacher ethics pledge of their school."""
    if pledge.kind != ETHICS:
        raise PledgeError(_l("Only a teacher ethics pledge can be signed."))
    if not pledge.is_active:
        raise PledgeError(_l("This pledge is no longer open for signing."))
    if not user_can(user, "pledges.sign", pledge.school):
        raise PledgeError(_l("Only the school's teachers sign its ethics pledge."))
    if any(s.user_id == user.id for s in pledge.signatures):
        raise PledgeError(_l("You have already signed this pledge."))
    signature = PledgeSignature(pledge_id=pledge.id, school_id=pledge.school_id, user_id=user.id,
                                user=user, signed_at=utcnow())
    pledge.signatures.append(signature)
    _audit("pledge.signed", pledge, user, {"user_id": user.id})
    return signature


def school_pledges() -> list[Pledge]:
    """Return the pledges of the request's school, newest school year first."""
    statement = sa.select(Pledge).order_by(
        Pledge.school_year.desc(), Pledge.kind.desc(), Pledge.status, Pledge.id
    )
    return list(db.session.scalars(statement))


def public_url(base_url: str, path: str) -> str:
    """Join the configured external base URL and a path, for posters and QR codes."""
    return base_url.rstrip("/") + "/" + path.lstrip("/")


def qr_png(url: str, scale: int = 8) -> bytes:
    """Return a PNG of a QR code that encodes ``url``."""
    buffer = io.BytesIO()
    segno.make(url, error="m").save(buffer, kind="png", scale=scale, border=4)
    return buffer.getvalue()


def report_links(school: Organisation, pledges: list[Pledge]) -> dict[int, str]:
    """Ask the report-link hook (the complaint box, if enabled) for a URL per pledge."""
    hook = plugins.hook_for(school, "kaimen_report_link")
    links = {}
    for pledge in pledges:
        if pledge.status == WITHDRAWN:
            continue
        url = hook(school=school, reference=pledge.reference, title=pledge.title)
        if url:
            links[pledge.id] = url
    return links


def report_counts(school: Organisation, references: list[str]) -> dict[str, tuple[int, int]]:
    """Return ``{reference: (reports, substantiated)}`` summed over every answering plugin."""
    if not references:
        return {}
    totals: dict[str, tuple[int, int]] = {}
    for answer in plugins.hook_for(school, "kaimen_report_counts")(
        schools=[school], references=references
    ):
        for reference, (reports, substantiated) in (answer or {}).items():
            before = totals.get(reference, (0, 0))
            totals[reference] = (before[0] + reports, before[1] + substantiated)
    return totals
