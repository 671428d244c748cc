"""The append-only audit log, hash-chained per bureau with a key.

``record`` appends an event in the caller's transaction. Appends to one
bureau's chain are serialised by locking that bureau's ``AuditHead`` row
(``SELECT … FOR UPDATE`` on PostgreSQL; SQLite writes are serialised by
``BEGIN IMMEDIATE``), and ``(bureau_id, seq)`` is unique, so concurrent
appends can never fork the chain.

Each event's hash is an HMAC-SHA256 under ``KAIMEN_AUDIT_KEY``, a key that is
never stored in the database: whoever can write the database but lacks the key
cannot recompute the chain after an edit. What the chain alone cannot show
(its last events deleted and the head rewound, or a bureau's whole chain
deleted) is shown by the signed checkpoints kept outside the database
(``kaimen.audit_checkpoints``), which ``verify`` checks the chain against.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from flask import current_app
from flask_login import current_user
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .config import ConfigError
from .extensions import Model, db
from .orgs import Organisation
from .timeutil import coarse_now, utcnow

GENESIS = "0" * 64
LEGACY_REASON = (
    "hashed without the audit key: written before the chain was keyed (then run "
    "'flask kaimen audit rechain' once), or recomputed by someone without the key"
)


def chain_key() -> bytes:
    """Return the key of the hash chain: ``AUDIT_KEY``, or one derived in debug and testing."""
    config = current_app.config
    if config.get("AUDIT_KEY"):
        return str(config["AUDIT_KEY"]).encode()
    if config.get("AUDIT_DEVELOPMENT_KEY"):  # debug and testing only: see config.py
        return bytes(config["AUDIT_DEVELOPMENT_KEY"])
    raise ConfigError("KAIMEN_AUDIT_KEY is not set: the audit log cannot be written or checked")


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

    def compute_hash(self, key: bytes | None = None) -> str:
        """Return the HMAC-SHA256, under the chain key, of this event and its predecessor's hash."""
        return hmac.new(key or chain_key(), self._canonical(), hashlib.sha256).hexdigest()

    def legacy_hash(self) -> str:
        """Return the plain SHA-256 that events had before the chain was keyed."""
        return hashlib.sha256(self._canonical()).hexdigest()

    def _canonical(self) -> bytes:
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
        return canonical.encode()


class AuditHead(Model):
    """The end of one bureau's chain: locked by every append."""

    __tablename__ = "audit_head"
    # Moved by every audited write; it shows on no page, so it never ages a cached one.
    page_neutral = True

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
    the staff member who happened to send it from a logged-in browser. Its time
    is stored to the minute (``coarse_now``), like the filing it records; the
    chain's order is its sequence number, never its times.
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
        created_at=coarse_now() if public else utcnow(),
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
        if self.seq is None:
            return f"bureau {self.bureau_id}: {self.reason}"
        if self.event_id is None:
            return f"bureau {self.bureau_id}, head at #{self.seq}: {self.reason}"
        return f"bureau {self.bureau_id}, event #{self.seq} (id {self.event_id}): {self.reason}"


@dataclass(frozen=True)
class Checkpoint:
    """A bureau's chain head as signed at a time, read back from outside the database."""

    bureau_id: int
    seq: int
    head: str
    time: str


def verify(checkpoints: Iterable[Checkpoint] = ()) -> list[Breach]:
    """Recompute every bureau's chain; return the first breach of each broken one.

    Without checkpoints a chain is checked against itself and its head only; with
    them, each chain must also still hold every checkpointed event unchanged.
    """
    breaches = []
    anchors: dict[int, dict[int, list[Checkpoint]]] = {}
    for checkpoint in checkpoints:
        anchors.setdefault(checkpoint.bureau_id, {}).setdefault(checkpoint.seq, []).append(
            checkpoint
        )
    key = chain_key()
    # populate_existing: check the stored rows, not copies already in the session
    stored = db.session.scalars(sa.select(AuditHead), execution_options={"populate_existing": True})
    heads = {h.bureau_id: h for h in stored}
    bureau_ids = set(heads) | set(db.session.scalars(sa.select(AuditEvent.bureau_id).distinct()))
    for bureau_id in sorted(bureau_ids | set(anchors)):
        breach = _verify_chain(bureau_id, heads.get(bureau_id), anchors.get(bureau_id, {}), key)
        if breach is not None:
            breaches.append(breach)
    return breaches


def _events(bureau_id: int) -> Iterable[AuditEvent]:
    return db.session.scalars(
        sa.select(AuditEvent).where(AuditEvent.bureau_id == bureau_id).order_by(AuditEvent.seq),
        execution_options={"populate_existing": True},
    )


def _verify_chain(
    bureau_id: int,
    head: AuditHead | None,
    anchors: dict[int, list[Checkpoint]],
    key: bytes,
) -> Breach | None:
    expected_seq, prev_hash = 1, GENESIS
    pending = dict(anchors)
    for event in _events(bureau_id):
        if event.seq != expected_seq:
            return Breach(
                bureau_id, event.seq, event.id, f"expected #{expected_seq}: events missing"
            )
        if event.prev_hash != prev_hash:
            return Breach(bureau_id, event.seq, event.id, "does not follow the event before it")
        if not hmac.compare_digest(event.compute_hash(key), event.hash):
            legacy = event.legacy_hash() == event.hash
            reason = LEGACY_REASON if legacy else "content was changed after it was written"
            return Breach(bureau_id, event.seq, event.id, reason)
        for checkpoint in pending.pop(event.seq, []):
            if checkpoint.head != event.hash:
                return Breach(
                    bureau_id,
                    event.seq,
                    event.id,
                    f"differs from the checkpoint of {checkpoint.time}: the chain was rewritten",
                )
        expected_seq, prev_hash = expected_seq + 1, event.hash
    last = expected_seq - 1
    if pending:
        checkpoint = pending[max(pending)][0]
        ends = f"ends at #{last}" if last else "has no events"
        return Breach(
            bureau_id,
            last or None,
            None,
            f"the checkpoint of {checkpoint.time} recorded #{checkpoint.seq}, but the chain "
            f"{ends}: events were removed",
        )
    if head is None:
        return Breach(bureau_id, None, None, "the chain has events but no head")
    if head.seq != last or head.last_hash != prev_hash:
        return Breach(bureau_id, head.seq, None, f"the chain ends at #{last}: events removed")
    return None


class RechainRefused(Exception):
    """A chain that ``rechain`` will not re-key: it does not verify, or it was checkpointed."""


def rechain(checkpointed: Iterable[int] = ()) -> dict[int, int]:
    """Re-key the events hashed before the chain had a key; return re-keyed counts per bureau.

    A chain is re-keyed only when it verifies as written: plain SHA-256 events
    first, then keyed ones. A bureau with checkpoints is refused, since its
    signed heads would no longer match.
    """
    key, done = chain_key(), {}
    refused = set(checkpointed)
    for head in db.session.scalars(sa.select(AuditHead).order_by(AuditHead.bureau_id)).all():
        head = _lock_head(head.bureau_id)
        legacy = _rekey(head, key)
        if not legacy:
            continue
        if head.bureau_id in refused:
            raise RechainRefused(
                f"bureau {head.bureau_id}: it has signed checkpoints; re-keying would break them"
            )
        done[head.bureau_id] = legacy
        bureau = db.session.get(Organisation, head.bureau_id)
        record("audit.rechained", bureau, bureau=bureau, data={"events": legacy})
    return done


def _rekey(head: AuditHead, key: bytes) -> int:
    """Rewrite one chain under ``key`` after checking it as stored; return the legacy count."""
    stored_prev, new_prev, legacy, keyed_seen = GENESIS, GENESIS, 0, False
    events = list(_events(head.bureau_id))
    for expected_seq, event in enumerate(events, start=1):
        if event.seq != expected_seq or event.prev_hash != stored_prev:
            raise RechainRefused(f"bureau {head.bureau_id}: event #{event.seq} is out of order")
        if not keyed_seen and event.legacy_hash() == event.hash:
            legacy += 1
        elif hmac.compare_digest(event.compute_hash(key), event.hash):
            keyed_seen = True
        else:
            raise RechainRefused(f"bureau {head.bureau_id}: event #{event.seq} was changed")
        stored_prev = event.hash
        event.prev_hash = new_prev
        event.hash = new_prev = event.compute_hash(key)
    if (head.seq, head.last_hash) != (len(events), stored_prev):
        raise RechainRefused(f"bureau {head.bureau_id}: the head does not match the last event")
    head.last_hash = new_prev  # unchanged when every event was keyed already
    return legacy
