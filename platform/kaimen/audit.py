"""The append-only audit log, hash-chained per bureau.

``record`` appends an event in the caller's transaction. Appends to one
bureau's chain are serialised by locking that bureau's ``AuditHead`` row
(``SELECT … FOR UPDATE`` on PostgreSQL; SQLite writes are serialised by
``BEGIN IMMEDIATE``), and ``(bureau_id, seq)`` is unique, so concurrent
appends can never fork the chain. ``verify`` recomputes every chain.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from flask_login import current_user
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .extensions import Model, db
from .orgs import Organisation
from .timeutil import utcnow

GENESIS = "0" * 64


class AuditEvent(Model):
    """One state change: who did what to which object, in which school, and when."""

    __tablename__ = "audit_event"
    __table_args__ = (sa.UniqueConstraint("bureau_id", "seq"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    bureau_id: Mapped[int] = mapped_column(sa.ForeignKey("organisation.id"))
    seq: Mapped[int]
    school_id: Mapped[int | None] = mapped_column(sa.ForeignKey("organisation.id"), index=True)
    actor_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user_account.id"))
    actor_name: Mapped[str] = mapped_column(sa.String(120))
    action: Mapped[str] = mapped_column(sa.String(80), index=True)
    object_type: Mapped[str | None] = mapped_column(sa.String(64))
    object_id: Mapped[str | None] = mapped_column(sa.String(64))
    data: Mapped[dict] = mapped_column(sa.JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(index=True)
    prev_hash: Mapped[str] = mapped_column(sa.String(64))
    hash: Mapped[str] = mapped_column(sa.String(64))

    school: Mapped[Organisation | None] = relationship(foreign_keys=[school_id])

    def compute_hash(self) -> str:
        """Return the SHA-256 of this event's content and its predecessor's hash."""
        content = [
            self.bureau_id,
            self.seq,
            self.school_id,
            self.actor_id,
            self.actor_name,
            self.action,
            self.object_type,
            self.object_id,
            self.data or {},
            self.created_at.isoformat(timespec="microseconds"),
            self.prev_hash,
        ]
        canonical = json.dumps(content, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()


class AuditHead(Model):
    """The end of one bureau's chain: locked by every append."""

    __tablename__ = "audit_head"

    bureau_id: Mapped[int] = mapped_column(sa.ForeignKey("organisation.id"), primary_key=True)
    seq: Mapped[int] = mapped_column(default=0)
    last_hash: Mapped[str] = mapped_column(sa.String(64), default=GENESIS)


def _lock_head(bureau_id: int) -> AuditHead:
    query = (
        sa.select(AuditHead)
        .where(AuditHead.bureau_id == bureau_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    head = db.session.scalar(query)
    if head is None:
        try:
            with db.session.begin_nested():
                db.session.add(AuditHead(bureau_id=bureau_id, seq=0, last_hash=GENESIS))
        except IntegrityError:
            pass  # another transaction created it first; lock theirs
        head = db.session.scalar(query)
    assert head is not None
    return head


def record(
    action: str,
    obj: Any = None,
    *,
    school: Organisation | None = None,
    bureau: Organisation | None = None,
    data: dict | None = None,
    actor: Any = None,
    public: bool = False,
) -> AuditEvent:
    """Append an event to the chain of the school's (or the given) bureau.

    The actor defaults to the logged-in user. ``public=True`` records the event
    as the public's whoever is logged in: an anonymous submission must not name
    the staff member who happened to send it from a logged-in browser.
    """
    if bureau is None:
        if school is None:
            raise ValueError("an audit event needs a school or a bureau")
        bureau = school.bureau()
    if public:
        actor = None
    elif actor is None and current_user and getattr(current_user, "is_authenticated", False):
        actor = current_user
    if obj is not None and getattr(obj, "id", None) is None:
        db.session.flush()  # Session.flush(objects) is deprecated in SQLAlchemy 2.1
    head = _lock_head(bureau.id)
    event = AuditEvent(
        bureau_id=bureau.id,
        seq=head.seq + 1,
        school_id=school.id if school is not None else None,
        actor_id=actor.id if actor is not None else None,
        actor_name=actor.username if actor is not None else "public",
        action=action,
        object_type=type(obj).__name__ if obj is not None else None,
        object_id=str(obj.id) if obj is not None else None,
        data=data or {},
        created_at=utcnow(),
        prev_hash=head.last_hash,
    )
    event.hash = event.compute_hash()
    head.seq, head.last_hash = event.seq, event.hash
    db.session.add(event)
    return event


@dataclass
class Breach:
    """The first event where a chain stops adding up."""

    bureau_id: int
    seq: int | None
    event_id: int | None
    reason: str

    def __str__(self) -> str:
        return f"bureau {self.bureau_id}, event #{self.seq} (id {self.event_id}): {self.reason}"


def verify() -> list[Breach]:
    """Recompute every bureau's chain; return the first breach of each broken one."""
    breaches = []
    # populate_existing: check the stored rows, not copies already in the session
    stored = db.session.scalars(sa.select(AuditHead), execution_options={"populate_existing": True})
    heads = {h.bureau_id: h for h in stored}
    bureau_ids = set(heads) | set(db.session.scalars(sa.select(AuditEvent.bureau_id).distinct()))
    for bureau_id in sorted(bureau_ids):
        breach = _verify_chain(bureau_id, heads.get(bureau_id))
        if breach is not None:
            breaches.append(breach)
    return breaches


def _verify_chain(bureau_id: int, head: AuditHead | None) -> Breach | None:
    expected_seq, prev_hash = 1, GENESIS
    events = db.session.scalars(
        sa.select(AuditEvent).where(AuditEvent.bureau_id == bureau_id).order_by(AuditEvent.seq),
        execution_options={"populate_existing": True},
    )
    for event in events:
        if event.seq != expected_seq:
            return Breach(
                bureau_id, event.seq, event.id, f"expected #{expected_seq}: events missing"
            )
        if event.prev_hash != prev_hash:
            return Breach(bureau_id, event.seq, event.id, "does not follow the event before it")
        if event.compute_hash() != event.hash:
            return Breach(
                bureau_id, event.seq, event.id, "content was changed after it was written"
            )
        expected_seq, prev_hash = expected_seq + 1, event.hash
    if head is None:
        return Breach(bureau_id, None, None, "the chain has events but no head")
    if head.seq != expected_seq - 1 or head.last_hash != prev_hash:
        return Breach(
            bureau_id, head.seq, None, f"the chain ends at #{expected_seq - 1}: events removed"
        )
    return None
