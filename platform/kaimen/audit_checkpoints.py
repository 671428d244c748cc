"""Signed checkpoints of the audit chains, kept outside the database.

As in Certificate Transparency, a log is only verifiable against what has left
it: ``checkpoint`` signs, for each bureau, the heads of all of its chains at
that moment (the bureau's own and each school's: chain, sequence, head hash; and
the time) with an Ed25519 key that is never stored in the database, appends it
to an append-only file of JSON lines, and sends it to the bureau's supervisors
through the outbox. ``audit.verify`` then checks the chains against those lines,
so any of a bureau's chains cut short, rewound or deleted whole no longer passes.

Lines written before chains per school (0018) sign one head per bureau, that of
the chain which is now the bureau's own; they are read and checked as before.
"""

from __future__ import annotations

import base64
import fcntl
import hashlib
import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from flask import current_app
from flask_babel import force_locale
from flask_babel import gettext as _

from . import audit, notify
from .extensions import db
from .orgs import Organisation
from .timeutil import utcnow

# A signature over a context can mean nothing else; each format has its own.
SIGNED_FIELDS = ("bureau_id", "bureau", "chains", "time")
CONTEXT = b"kaimen audit checkpoint v2\n"
# Before 0018: one chain per bureau, its head signed alone.
SIGNED_FIELDS_V1 = ("bureau_id", "bureau", "seq", "head", "time")
CONTEXT_V1 = b"kaimen audit checkpoint v1\n"
UNSIGNED_FIELDS = ("key", "signature")


class CheckpointError(Exception):
    """A checkpoint file or key that cannot be used: unreadable, or a signature that fails."""


class LogBroken(Exception):
    """The chains do not verify: no checkpoint is signed over a tampered log."""

    def __init__(self, breaches: list[audit.Breach]) -> None:
        super().__init__("; ".join(str(b) for b in breaches))
        self.breaches = breaches


def _instance_file(setting: str, default_name: str) -> Path:
    configured = current_app.config.get(setting)
    return Path(configured) if configured else Path(current_app.instance_path) / default_name


def checkpoints_path() -> Path:
    """Return the checkpoints file: ``AUDIT_CHECKPOINTS`` or one in the instance folder."""
    return _instance_file("AUDIT_CHECKPOINTS", "audit-checkpoints.jsonl")


def signing_key_path() -> Path:
    """Return the signing key's file: ``AUDIT_SIGNING_KEY`` or one in the instance folder."""
    return _instance_file("AUDIT_SIGNING_KEY", "audit-signing-key.pem")


def signing_key(create: bool = False) -> Ed25519PrivateKey:
    """Load the Ed25519 signing key; with ``create``, make it (mode 0600) when it is missing."""
    path = signing_key_path()
    if not path.exists():
        if not create:
            raise CheckpointError(f"{path}: no signing key (nothing was checkpointed with it)")
        return _create_signing_key(path)
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (OSError, ValueError, TypeError) as error:
        raise CheckpointError(f"{path}: not a readable private key ({error})") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise CheckpointError(f"{path}: not an Ed25519 private key")
    return key


def _create_signing_key(path: Path) -> Ed25519PrivateKey:
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another run made it first: use theirs
        return signing_key()
    with os.fdopen(descriptor, "wb") as file:
        file.write(pem)
    # The public half, for whoever verifies on another machine (--public-key).
    path.with_suffix(".pub").write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    return key


def public_key(path: str | None = None) -> Ed25519PublicKey:
    """Return the key that checkpoints are verified with: from ``path``, or the signing key's."""
    if path is None:
        return signing_key().public_key()
    try:
        key = serialization.load_pem_public_key(Path(path).read_bytes())
    except (OSError, ValueError) as error:
        raise CheckpointError(f"{path}: not a readable public key ({error})") from None
    if not isinstance(key, Ed25519PublicKey):
        raise CheckpointError(f"{path}: not an Ed25519 public key")
    return key


def key_id(key: Ed25519PublicKey) -> str:
    """Return a short fingerprint of a public key, to tell keys apart in the file."""
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def _message(fields: dict[str, Any]) -> bytes:
    context, names = (CONTEXT, SIGNED_FIELDS) if "chains" in fields else (
        CONTEXT_V1, SIGNED_FIELDS_V1)
    signed = {name: fields[name] for name in names}
    if set(fields) - set(names) - set(UNSIGNED_FIELDS):
        raise ValueError("a field that the signature does not cover")
    return (
        context
        + json.dumps(signed, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode()
    )


def sign(
    key: Ed25519PrivateKey, bureau: Organisation, heads: Iterable[audit.AuditHead]
) -> dict[str, Any]:
    """Return the signed checkpoint of the heads of a bureau's chains, as a file line's fields."""
    fields: dict[str, Any] = {
        "bureau_id": bureau.id,
        "bureau": bureau.slug,
        "chains": [
            {"chain": head.chain_id, "seq": head.seq, "head": head.last_hash}
            for head in sorted(heads, key=lambda head: head.chain_id)
        ],
        "time": utcnow().isoformat(timespec="seconds") + "Z",
    }
    fields["key"] = key_id(key.public_key())
    fields["signature"] = base64.b64encode(key.sign(_message(fields))).decode()
    return fields


def line_of(fields: dict[str, Any]) -> str:
    """Return a checkpoint as one line of the file."""
    return json.dumps(fields, ensure_ascii=False, separators=(",", ":"))


def read(path: Path | str, key: Ed25519PublicKey) -> list[audit.Checkpoint]:
    """Read a checkpoints file; refuse it whole if any line is malformed or falsely signed."""
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as error:
        raise CheckpointError(f"{path}: cannot be read ({error})") from None
    checkpoints = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            fields = json.loads(line)
            checkpoint = _checkpoint(fields)
            signature = base64.b64decode(fields["signature"], validate=True)
            message = _message(fields)
        except (ValueError, KeyError, TypeError, AttributeError):
            raise CheckpointError(f"{path}, line {number}: not a checkpoint") from None
        try:
            key.verify(signature, message)
        except InvalidSignature:
            raise CheckpointError(
                f"{path}, line {number}: the signature does not match "
                "(a forged or altered checkpoint, or one signed with another key)"
            ) from None
        checkpoints.append(checkpoint)
    return checkpoints


def _checkpoint(fields: dict[str, Any]) -> audit.Checkpoint:
    bureau_id = int(fields["bureau_id"])
    if "chains" in fields:
        heads = tuple(
            audit.ChainHead(int(c["chain"]), int(c["seq"]), str(c["head"]))
            for c in fields["chains"]
        )
        if not heads or len({h.chain_id for h in heads}) != len(heads):
            raise ValueError("no chains, or a chain twice")
    else:  # a line from before 0018: the head of what is now the bureau's own chain
        heads = (audit.ChainHead(bureau_id, int(fields["seq"]), str(fields["head"])),)
    return audit.Checkpoint(bureau_id, heads, str(fields["time"]))


def _append(path: Path, entries: Iterable[dict[str, Any]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    text = "".join(line_of(fields) + "\n" for fields in entries)
    with path.open("a", encoding="utf-8") as file:
        fcntl.flock(file, fcntl.LOCK_EX)  # two runs at once write whole lines, one after the other
        file.write(text)
        file.flush()
        os.fsync(file.fileno())


def checkpoint() -> list[dict[str, Any]]:
    """Sign, per bureau whose chains moved since its last checkpoint, all their heads; send them.

    The chains are verified against the file first, so a tampered log is never
    signed. The caller commits the outbox notices.
    """
    key = signing_key(create=True)
    path = checkpoints_path()
    previous = read(path, key.public_key()) if path.exists() else []
    breaches = audit.verify(previous)
    if breaches:
        raise LogBroken(breaches)
    last_signed = {c.bureau_id: {(h.chain_id, h.seq) for h in c.heads} for c in previous}
    # One statement: the heads of a bureau's chains as they stood at one moment.
    rows = db.session.execute(
        sa.select(audit.AuditHead, Organisation)
        .join(Organisation, Organisation.id == audit.AuditHead.bureau_id)
        .where(audit.AuditHead.seq > 0)
        .order_by(audit.AuditHead.bureau_id, audit.AuditHead.chain_id)
    ).all()
    by_bureau: dict[Organisation, list[audit.AuditHead]] = {}
    for head, bureau in rows:
        by_bureau.setdefault(bureau, []).append(head)
    signed = [
        (bureau, sign(key, bureau, heads))
        for bureau, heads in by_bureau.items()
        if last_signed.get(bureau.id) != {(h.chain_id, h.seq) for h in heads}
    ]
    # The file first: a notice must never announce a checkpoint the file lacks.
    _append(path, (fields for _bureau, fields in signed))
    for bureau, fields in signed:
        _notify_supervisors(bureau, fields)
    return [fields for _bureau, fields in signed]


def supervisors(bureau: Organisation) -> list[Any]:
    """Return who receives ``bureau``'s checkpoints: its supervisors and those above it."""
    from .auth.access import holders

    return holders("audit.checkpoints", bureau)


def events_signed(fields: dict[str, Any]) -> int:
    """Return how many events a checkpoint's chains hold in all."""
    return sum(int(chain["seq"]) for chain in fields["chains"])


def _notify_supervisors(bureau: Organisation, fields: dict[str, Any]) -> None:
    locale = bureau.default_locale or current_app.config["DEFAULT_LOCALE"]
    events, chains = events_signed(fields), len(fields["chains"])
    with force_locale(locale):
        name = bureau.display_name(locale)
        subject = _(
            "Audit log checkpoint of %(bureau)s: %(events)d events in %(chains)d chains",
            bureau=name,
            events=events,
            chains=chains,
        )
        body = _(
            "The audit log of %(bureau)s was sealed at %(time)s (UTC): the ends of its "
            "%(chains)d chains (the bureau's own and its schools'), %(events)d events "
            "in all.\n\nKeep this message. It lets anyone prove later that the log up to "
            "then was neither changed nor cut short: save the line below in a file and run "
            '"flask kaimen audit verify --checkpoints FILE".',
            bureau=name,
            time=fields["time"],
            chains=chains,
            events=events,
        )
    body = f"{body}\n\n{line_of(fields)}\n"
    for person in supervisors(bureau):
        if person.email:
            notify.enqueue(notify.EMAIL, person.email, body, subject=subject)
        elif person.phone:
            notify.enqueue(notify.SMS, person.phone, body, subject=subject)
