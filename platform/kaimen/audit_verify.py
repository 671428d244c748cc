"""Checking the audit chains, against themselves and their signed checkpoints; re-keying them.

``verify`` recomputes every chain (a school's, or a bureau's own) and reports the
first event where each stops adding up; given the checkpoints read back from
outside the database, it also shows a chain cut short, rewound or deleted whole.
``rechain`` re-keys chains that were hashed before the chain had a key.
"""

from __future__ import annotations

import hmac
from collections.abc import Iterable
from dataclasses import dataclass

import sqlalchemy as sa

from .audit import GENESIS, LEGACY_REASON, AuditEvent, AuditHead, chain_key, lock_head, record
from .extensions import db
from .orgs import Organisation


def chain_label(bureau_id: int, chain_id: int) -> str:
    """Name a chain for a report: ``bureau 3`` for a bureau's own, ``bureau 3, school 7``."""
    if chain_id == bureau_id:
        return f"bureau {bureau_id}"
    return f"bureau {bureau_id}, school {chain_id}"


@dataclass
class Breach:
    """The first event where a chain stops adding up."""

    bureau_id: int
    chain_id: int
    seq: int | None
    event_id: int | None
    reason: str

    def __str__(self) -> str:
        chain = chain_label(self.bureau_id, self.chain_id)
        if self.seq is None:
            return f"{chain}: {self.reason}"
        if self.event_id is None:
            return f"{chain}, head at #{self.seq}: {self.reason}"
        return f"{chain}, event #{self.seq} (id {self.event_id}): {self.reason}"


@dataclass(frozen=True)
class ChainHead:
    """One chain's head as a checkpoint recorded it."""

    chain_id: int
    seq: int
    head: str


@dataclass(frozen=True)
class Checkpoint:
    """A bureau's chain heads as signed at a time, read back from outside the database."""

    bureau_id: int
    heads: tuple[ChainHead, ...]
    time: str


def verify(checkpoints: Iterable[Checkpoint] = ()) -> list[Breach]:
    """Recompute every chain; return the first breach of each broken one.

    Without checkpoints a chain is checked against itself and its head only; with
    them, each chain must also still hold every checkpointed event unchanged, and a
    chain that a checkpoint names must still exist.
    """
    breaches: list[Breach] = []
    checkpoints = list(checkpoints)
    anchors: dict[int, dict[int, list[tuple[Checkpoint, str]]]] = {}
    for checkpoint in checkpoints:
        for chain_head in checkpoint.heads:
            anchors.setdefault(chain_head.chain_id, {}).setdefault(chain_head.seq, []).append(
                (checkpoint, chain_head.head)
            )
    key = chain_key()
    # populate_existing: check the stored rows, not copies already in the session
    stored = db.session.scalars(sa.select(AuditHead), execution_options={"populate_existing": True})
    heads = {h.chain_id: h for h in stored}
    # Every chain there is, or was signed; named after its bureau as its events (which hash
    # it) say, else as its last checkpoint or its head does.
    bureaus = {chain_id: head.bureau_id for chain_id, head in heads.items()}
    for checkpoint in checkpoints:
        bureaus |= {chain_head.chain_id: checkpoint.bureau_id for chain_head in checkpoint.heads}
    bureaus |= {chain_id: bureau_id for chain_id, bureau_id in db.session.execute(
        sa.select(AuditEvent.chain_id, AuditEvent.bureau_id).distinct())}
    for chain_id in sorted(bureaus):
        breach = _verify_chain(
            bureaus[chain_id], chain_id, heads.get(chain_id), anchors.get(chain_id, {}), key
        )
        if breach is not None:
            breaches.append(breach)
    return breaches


def _events(chain_id: int) -> Iterable[AuditEvent]:
    return db.session.scalars(
        sa.select(AuditEvent).where(AuditEvent.chain_id == chain_id).order_by(AuditEvent.seq),
        execution_options={"populate_existing": True},
    )


def _verify_chain(
    bureau_id: int,
    chain_id: int,
    head: AuditHead | None,
    anchors: dict[int, list[tuple[Checkpoint, str]]],
    key: bytes,
) -> Breach | None:
    expected_seq, prev_hash = 1, GENESIS
    pending = dict(anchors)
    for event in _events(chain_id):
        def breach(reason: str, event: AuditEvent = event) -> Breach:
            return Breach(bureau_id, chain_id, event.seq, event.id, reason)

        if event.seq != expected_seq:
            return breach(f"expected #{expected_seq}: events missing")
        if event.prev_hash != prev_hash:
            return breach("does not follow the event before it")
        if not hmac.compare_digest(event.compute_hash(key), event.hash):
            legacy = event.legacy_hash() == event.hash
            return breach(LEGACY_REASON if legacy else "content was changed after it was written")
        for checkpoint, signed_head in pending.pop(event.seq, []):
            if signed_head != event.hash:
                return breach(
                    f"differs from the checkpoint of {checkpoint.time}: the chain was rewritten"
                )
        expected_seq, prev_hash = expected_seq + 1, event.hash
    last = expected_seq - 1
    if pending:
        seq = max(pending)
        checkpoint = pending[seq][0][0]
        ends = f"ends at #{last}" if last else "has no events"
        return Breach(
            bureau_id,
            chain_id,
            last or None,
            None,
            f"the checkpoint of {checkpoint.time} recorded #{seq}, but the chain "
            f"{ends}: events were removed",
        )
    if head is None:
        return Breach(bureau_id, chain_id, None, None, "the chain has events but no head")
    if head.seq != last or head.last_hash != prev_hash:
        return Breach(
            bureau_id, chain_id, head.seq, None, f"the chain ends at #{last}: events removed"
        )
    return None


class RechainRefused(Exception):
    """A chain that ``rechain`` will not re-key: it does not verify, or it was checkpointed."""


def rechain(checkpointed: Iterable[int] = ()) -> dict[tuple[int, int], int]:
    """Re-key the events hashed before the chain had a key; return counts by (bureau, chain).

    A chain is re-keyed only when it verifies as written: plain SHA-256 events
    first, then keyed ones. A chain that a checkpoint signed (``checkpointed``, by
    chain id) is refused, since its signed heads would no longer match.
    """
    key, done = chain_key(), {}
    refused = set(checkpointed)
    for head in db.session.scalars(sa.select(AuditHead).order_by(AuditHead.chain_id)).all():
        head = lock_head(head.chain_id, head.bureau_id)
        legacy = _rekey(head, key)
        if not legacy:
            continue
        label = chain_label(head.bureau_id, head.chain_id)
        if head.chain_id in refused:
            raise RechainRefused(f"{label}: it has signed checkpoints; re-keying would break them")
        done[(head.bureau_id, head.chain_id)] = legacy
        owner = db.session.get(Organisation, head.chain_id)
        if head.chain_id == head.bureau_id:
            record("audit.rechained", owner, bureau=owner, data={"events": legacy})
        else:
            record("audit.rechained", owner, school=owner, data={"events": legacy})
    return done


def _rekey(head: AuditHead, key: bytes) -> int:
    """Rewrite one chain under ``key`` after checking it as stored; return the legacy count."""
    stored_prev, new_prev, legacy, keyed_seen = GENESIS, GENESIS, 0, False
    label = chain_label(head.bureau_id, head.chain_id)
    events = list(_events(head.chain_id))
    for expected_seq, event in enumerate(events, start=1):
        if event.seq != expected_seq or event.prev_hash != stored_prev:
            raise RechainRefused(f"{label}: event #{event.seq} is out of order")
        if not keyed_seen and event.legacy_hash() == event.hash:
            legacy += 1
        elif hmac.compare_digest(event.compute_hash(key), event.hash):
            keyed_seen = True
        else:
            raise RechainRefused(f"{label}: event #{event.seq} was changed")
        stored_prev = event.hash
        event.prev_hash = new_prev
        event.hash = new_prev = event.compute_hash(key)
    if (head.seq, head.last_hash) != (len(events), stored_prev):
        raise RechainRefused(f"{label}: the head does not match the last event")
    head.last_hash = new_prev  # unchanged when every event was keyed already
    return legacy
