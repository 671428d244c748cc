"""The append-only audit log, hash-chained per school (and per bureau for its own rows) with a key.

``record`` appends an event in the caller's transaction to the chain of the
organisation that owns it: its school when it has one, else its bureau. Appends
to one chain are serialised by locking that chain's ``AuditHead`` row at commit
(``SELECT … FOR UPDATE`` on PostgreSQL; SQLite writes are serialised by
``BEGIN IMMEDIATE``), and ``(chain_id, seq)`` is unique, so concurrent appends
can never fork a chain, while writers of two schools of one bureau never wait on
each other.

Each event's hash is an HMAC-SHA256 under ``KAIMEN_AUDIT_KEY``, a key that is
never stored in the database: whoever can write the database but lacks the key
cannot recompute a chain after an edit. What a chain alone cannot show (its last
events deleted and the head rewound, or a whole chain deleted) is shown by the
signed checkpoints kept outside the database (``kaimen.audit_checkpoints``): one
per bureau, signing the heads of all of its chains at once, which ``verify``
checks every chain against.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from flask import current_app
from flask_login import current_user
from sqlalchemy import event as orm_event
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column, relationship

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
    # The audit log shows on no public form (``kaimen.pagecache``'s form version).
    form_neutral = True
    __table_args__ = (sa.UniqueConstraint("chain_id", "seq"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    bureau_id: Mapped[int] = mapped_column(sa.ForeignKey("organisation.id"), index=True)
    # The organisation whose chain holds the event: its school, or the bureau for the
    # bureau's own rows (and for every event written before chains per school, 0018).
    chain_id: Mapped[int] = mapped_column(sa.ForeignKey("organisation.id"))
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

    def _chain_name(self) -> int | list[int]:
        # A bureau's own chain is named by the bureau's id alone, as every chain was before
        # chains per school (0018), so that the events written then verify unchanged.
        if self.chain_id == self.bureau_id:
            return self.bureau_id
        return [self.bureau_id, self.chain_id]

    def _canonical(self) -> bytes:
        content = [
            self._chain_name(),
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
    """The end of one chain (a school's, or a bureau's own): locked by every append to it."""

    __tablename__ = "audit_head"
    # Moved by every audited write; it shows on no page, so it never ages a cached one.
    page_neutral = True

    chain_id: Mapped[int] = mapped_column(
        sa.ForeignKey("organisation.id"), primary_key=True, autoincrement=False
    )
    # The bureau whose checkpoints sign this head, with the heads of its other chains.
    bureau_id: Mapped[int] = mapped_column(sa.ForeignKey("organisation.id"), index=True)
    seq: Mapped[int] = mapped_column(default=0)
    last_hash: Mapped[str] = mapped_column(sa.String(64), default=GENESIS)


def lock_head(chain_id: int, bureau_id: int) -> AuditHead:
    """Lock a chain's head to the end of the transaction, creating it when it is new."""
    query = (
        sa.select(AuditHead)
        .where(AuditHead.chain_id == chain_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    head = db.session.scalar(query)
    if head is None:
        try:
            with db.session.begin_nested():
                db.session.add(
                    AuditHead(chain_id=chain_id, bureau_id=bureau_id, seq=0, last_hash=GENESIS)
                )
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
    """Append an event to the chain of the school, or of the given bureau when there is none.

    The actor defaults to the logged-in user. ``public=True`` records the event
    as the public's whoever is logged in: an anonymous submission must not name
    the staff member who happened to send it from a logged-in browser. Its time
    is stored to the minute (``coarse_now``), like the filing it records; the
    chain's order is its sequence number, never its times.
    """
    if school is not None:
        if bureau is not None and bureau.id != school.bureau().id:
            raise ValueError("an audit event's bureau is its school's")
        bureau = school.bureau()
    elif bureau is None:
        raise ValueError("an audit event needs a school or a bureau")
    if public:
        actor = None
    elif actor is None and current_user and getattr(current_user, "is_authenticated", False):
        actor = current_user
    if obj is not None and getattr(obj, "id", None) is None:
        db.session.flush()  # Session.flush(objects) is deprecated in SQLAlchemy 2.1
    event = AuditEvent(
        bureau_id=bureau.id,
        chain_id=(school or bureau).id,
        school_id=school.id if school is not None else None,
        actor_id=actor.id if actor is not None else None,
        actor_name=actor.username if actor is not None else "public",
        action=action,
        object_type=type(obj).__name__ if obj is not None else None,
        object_id=str(obj.id) if obj is not None else None,
        data=data or {},
        created_at=coarse_now() if public else utcnow(),
    )
    session = db.session()
    # The event belongs to the transaction (or savepoint) under way: begin it if need be,
    # so that its rollback can be told apart from an earlier one's.
    transaction = (session.get_nested_transaction() or session.get_transaction()
                   or session.begin())
    session.info.setdefault(_PENDING, []).append((event, transaction))
    return event


# -- chaining at commit: a chain's head is locked for the commit alone -----------------
#
# Every write to a chain takes its head row's lock. Taken when an event is recorded, it
# was held for the rest of the writer's transaction (the case, its receipt, its files);
# events now wait in the session and are chained just before the commit. With one chain
# per bureau, 64 parents filing in 20 schools still queued on that one row at commit
# (make bench), so each school has a chain of its own. Heads are locked in the order of
# their organisation's id, so two writers that touch the same chains never deadlock; a
# rollback, of the whole transaction or of the savepoint an event was recorded in,
# forgets its events.

_PENDING = "kaimen_audit_pending"


def pending_events() -> list[AuditEvent]:
    """Return the events recorded in this transaction and not yet chained (committed)."""
    return [event for event, _ in db.session().info.get(_PENDING, [])]


@orm_event.listens_for(Session, "before_commit")
def _chain_pending(session: Session) -> None:
    if session.get_nested_transaction() is not None:
        return  # a savepoint's commit: the events wait for the transaction's
    pending = session.info.pop(_PENDING, None)
    if not pending:
        return
    session.flush()  # everything else first: the head is locked from here to the commit
    for chain_id in sorted({e.chain_id for e, _ in pending}):
        events = [e for e, _ in pending if e.chain_id == chain_id]
        head = lock_head(chain_id, events[0].bureau_id)
        for audit_event in events:
            head.bureau_id = audit_event.bureau_id  # a school moved to another bureau takes it
            audit_event.seq, audit_event.prev_hash = head.seq + 1, head.last_hash
            audit_event.hash = audit_event.compute_hash()
            head.seq, head.last_hash = audit_event.seq, audit_event.hash
            session.add(audit_event)


@orm_event.listens_for(Session, "after_soft_rollback")
def _forget_rolled_back(session: Session, previous_transaction: Any) -> None:
    """Drop the events recorded within a transaction or savepoint that was rolled back."""
    pending = session.info.get(_PENDING)
    if not pending:
        return

    def within(transaction: Any) -> bool:
        while transaction is not None:
            if transaction is previous_transaction:
                return True
            transaction = transaction.parent
        return False

    session.info[_PENDING] = [p for p in pending if not within(p[1])]


@orm_event.listens_for(Session, "after_transaction_end")
def _forget_at_the_end(session: Session, transaction: Any) -> None:
    """Whatever is still waiting when the whole transaction ends was never committed."""
    if transaction.parent is None and not transaction.nested:
        session.info.pop(_PENDING, None)


# Checking and re-keying the chains is the other half of the log, kept in its own module;
# imported last, since it builds on everything above.
from .audit_verify import (  # noqa: E402
    Breach,
    ChainHead,
    Checkpoint,
    RechainRefused,
    chain_label,
    rechain,
    verify,
)

__all__ = [
    "GENESIS",
    "AuditEvent",
    "AuditHead",
    "Breach",
    "ChainHead",
    "Checkpoint",
    "RechainRefused",
    "chain_key",
    "chain_label",
    "pending_events",
    "rechain",
    "record",
    "verify",
]
