"""The rules of the pledge board: no silent edits, withdrawals need a reason, own signatures.

Every write is here, each with its audit event, in the caller's transaction; the
views load, check the permission and call these. Other plugins are reached through
hooks only: the complaint box answers ``kaimen_report_link`` and ``kaimen_report_counts``.
"""

from __future__ import annotations

import io
from datetime import date
from typing import Any
from urllib.parse import urlsplit

import segno
import sqlalchemy as sa
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel import ngettext
from sqlalchemy.orm import selectinload

from kaimen import Organisation, Unit, User, audit, db, hook_for, user_can, utcnow
from kaimen.forms import is_school_year

from .models import (
    ACTIVE,
    CONTENT_FIELDS,
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


class PledgeError(ValueError):
    """A change the rules refuse; the message is translated and meant for the user."""


# --- school years ------------------------------------------------------------------------------


def school_year_of(day: date) -> str:
    """Return the school year a day falls in; a school year starts in September."""
    start = day.year if day.month >= 9 else day.year - 1
    return f"{start}-{start + 1}"


def current_school_year() -> str:
    """Return the school year of today (UTC)."""
    return school_year_of(utcnow().date())


# --- writes ------------------------------------------------------------------------------------


# How the audit log names each action recorded here (``kaimen_audit_actions``).
AUDIT_ACTIONS = {
    "pledge.published": _l("Pledge published"),
    "pledge.edited": _l("Pledge edited (new version)"),
    "pledge.progress": _l("Pledge progress update published"),
    "pledge.fulfilled": _l("Pledge marked fulfilled"),
    "pledge.withdrawn": _l("Pledge withdrawn"),
    "pledge.signed": _l("Teacher ethics pledge signed"),
}


def _audit(action: str, pledge: AnyPledge, actor: User | None, data: dict | None = None) -> None:
    if isinstance(pledge, Pledge):
        audit.record(action, pledge, school=pledge.school, data=data, actor=actor)
    else:
        audit.record(action, pledge, bureau=pledge.bureau, data=data, actor=actor)


def _snapshot(pledge: AnyPledge, editor: User | None) -> None:
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


def _publish(pledge: AnyPledge, actor: User | None, data: dict[str, Any]) -> None:
    db.session.add(pledge)
    _snapshot(pledge, actor)
    db.session.flush()  # the audit event names the pledge by its id
    _audit("pledge.published", pledge, actor, data | {"title": pledge.title})


def publish_school_pledge(
    school: Organisation, kind: str, actor: User | None, **content: Any
) -> Pledge:
    """Publish a school pledge and keep its first version."""
    pledge = Pledge(school_id=school.id, school=school, kind=kind, status=ACTIVE, **_clean(content))
    _publish(pledge, actor, {"kind": kind})
    return pledge


def publish_bureau_pledge(
    bureau: Organisation, unit_id: int | None, actor: User | None, **content: Any
) -> BureauPledge:
    """Publish a pledge of the bureau (or of one of its units) and keep its first version."""
    pledge = BureauPledge(bureau_id=bureau.id, bureau=bureau, unit_id=unit_id, status=ACTIVE,
                          **_clean(content))
    _publish(pledge, actor, {"unit_id": unit_id})
    return pledge


def edit(pledge: AnyPledge, actor: User | None, **content: Any) -> bool:
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


def set_status(pledge: AnyPledge, status: str, reason: str | None, actor: User | None) -> str:
    """Mark an active pledge fulfilled or withdrawn, and return the new status.

    Withdrawing needs a public reason.
    """
    reason = (reason or "").strip()
    if status not in (FULFILLED, WITHDRAWN):
        raise PledgeError(_l("Choose whether the pledge was fulfilled or is withdrawn."))
    if pledge.status != ACTIVE:
        raise PledgeError(_l("Only an active pledge can change its status."))
    if status == WITHDRAWN and not reason:
        raise PledgeError(_l("Give the public reason for withdrawing the pledge."))
    pledge.status, pledge.status_reason, pledge.status_changed_at = status, reason or None, utcnow()
    _audit(f"pledge.{status}", pledge, actor, {"reason": reason} if reason else None)
    return status


def add_update(
    pledge: AnyPledge, text: str, actor: User | None
) -> PledgeUpdate | BureauPledgeUpdate:
    """Add a dated public progress note to a pledge and return it."""
    text = (text or "").strip()
    if not text:
        raise PledgeError(_l("Write the progress update."))
    values = {"pledge_id": pledge.id, "text": text, "created_at": utcnow(),
              "author_id": actor.id if actor is not None else None}
    update: PledgeUpdate | BureauPledgeUpdate
    if isinstance(pledge, Pledge):
        update = PledgeUpdate(school_id=pledge.school_id, **values)
        pledge.updates.insert(0, update)
    else:
        update = BureauPledgeUpdate(**values)
        pledge.updates.insert(0, update)
    _audit("pledge.progress", pledge, actor, {"text": text})
    return update


def sign(pledge: Pledge, user: User) -> PledgeSignature:
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


# --- reads -------------------------------------------------------------------------------------


def school_pledges() -> list[Pledge]:
    """Return the pledges of the request's school, newest school year first."""
    statement = sa.select(Pledge).order_by(
        Pledge.school_year.desc(), Pledge.kind.desc(), Pledge.status, Pledge.id
    )
    return list(db.session.scalars(statement))


def standing_among(school_ids: list[int]) -> Any:
    """Return the SELECT of the pledges of ``school_ids`` that are not withdrawn, newest
    first: the rows the umbrella view counts as published."""
    return (sa.select(Pledge).options(selectinload(Pledge.school))
            .where(Pledge.school_id.in_(school_ids), Pledge.status != WITHDRAWN)
            .order_by(Pledge.id.desc()))


def standing_pledges() -> list[Pledge]:
    """Return the request's school's pledges that are not withdrawn, as the public sees them."""
    return [pledge for pledge in school_pledges() if pledge.status != WITHDRAWN]


def awaiting_signature(user: User) -> list[Pledge]:
    """Return the request's school's active ethics pledges that ``user`` has not signed."""
    signed = sa.select(PledgeSignature.pledge_id).where(PledgeSignature.user_id == user.id)
    return list(db.session.scalars(
        sa.select(Pledge)
        .where(Pledge.kind == ETHICS, Pledge.status == ACTIVE, Pledge.id.not_in(signed))
        .order_by(Pledge.school_year.desc(), Pledge.id)
    ))


def poster_pledges(year: str) -> list[Pledge]:
    """Return the standing pledges of school year ``year``, or every standing one if none."""
    pledges = standing_pledges()
    return [p for p in pledges if p.school_year == year] or pledges


def bureau_pledges(bureau: Organisation) -> list[BureauPledge]:
    """Return the pledges of ``bureau``: newest school year first, the bureau's before units'."""
    return list(db.session.scalars(
        sa.select(BureauPledge).where(BureauPledge.bureau_id == bureau.id).order_by(
            BureauPledge.school_year.desc(), BureauPledge.unit_id.is_not(None), BureauPledge.id
        )
    ))


def bureau_pledge(bureau: Organisation, pledge_id: int) -> BureauPledge | None:
    """Return pledge ``pledge_id`` if it is one of ``bureau``'s, else None."""
    return db.session.scalar(sa.select(BureauPledge).where(
        BureauPledge.id == pledge_id, BureauPledge.bureau_id == bureau.id
    ))


def units_of(bureau: Organisation) -> list[Unit]:
    """Return the departments and units of ``bureau`` that may make pledges, by slug."""
    return list(db.session.scalars(
        sa.select(Unit).where(Unit.bureau_id == bureau.id).order_by(Unit.slug)
    ))


# --- posters and the complaint box -------------------------------------------------------------

# One sheet holds this many pledges in two columns, each cut to a title and a text of these
# lengths; the board online has the rest and the whole text.
POSTER_PLEDGES, POSTER_TITLE, POSTER_TEXT = 8, 28, 80
POSTER_COLUMNS_FROM = 4  # more pledges than this go in two columns


def poster_sheet(pledges: list[Pledge]) -> tuple[list[Pledge], int]:
    """Return the pledges printed on one poster sheet and how many are left for the board."""
    return pledges[:POSTER_PLEDGES], max(0, len(pledges) - POSTER_PLEDGES)


def shorten(text: str, limit: int) -> str:
    """Return ``text`` cut to ``limit`` characters, ending with an ellipsis when cut."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"



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
    hook = hook_for(school, "kaimen_report_link")
    links = {}
    for pledge in pledges:
        if pledge.status == WITHDRAWN:
            continue
        url = hook(school=school, reference=pledge.reference, title=pledge.title)
        if url:
            links[pledge.id] = url
    return links


def board_report_link(school: Organisation, base_url: str) -> tuple[str | None, str | None]:
    """Return where to report about the whole board, for paper, and the address to print.

    A printed path leads nowhere, so the link is made absolute; the printed address
    leaves out the query, short enough to type from the gate.
    """
    url = hook_for(school, "kaimen_report_link")(
        school=school, reference=f"pledge-board:{school.id}", title=_("Pledge board")
    )
    if not url:
        return None, None
    if not urlsplit(url).netloc:
        url = public_url(base_url, url)
    return url, urlsplit(url)._replace(query="", fragment="").geturl()


def report_counts(school: Organisation, references: list[str]) -> dict[str, tuple[int, int]]:
    """Return ``{reference: (reports, substantiated)}`` summed over every answering plugin."""
    if not references:
        return {}
    totals: dict[str, tuple[int, int]] = {}
    for answer in hook_for(school, "kaimen_report_counts")(
        schools=[school], references=references
    ):
        add_counts(totals, answer or {})
    return totals


def add_counts(totals: dict[Any, tuple[int, int]], counts: dict[Any, tuple[int, int]]) -> None:
    """Add ``(reports, substantiated)`` pairs of ``counts`` into ``totals``, key by key."""
    for key, (reports, substantiated) in counts.items():
        before = totals.get(key, (0, 0))
        totals[key] = (before[0] + reports, before[1] + substantiated)


def unit_in_use(unit: Unit) -> list[str]:
    """Return why ``unit`` cannot be deleted: the bureau pledges made in its name, which
    stay on the public record (withdrawn ones too)."""
    titles = list(db.session.scalars(
        sa.select(BureauPledge.title).where(BureauPledge.unit_id == unit.id)
        .order_by(BureauPledge.id)))
    if not titles:
        return []
    return [ngettext("%(num)d pledge of the bureau is made in its name: %(titles)s.",
                     "%(num)d pledges of the bureau are made in its name: %(titles)s.",
                     len(titles), titles="; ".join(titles))]
