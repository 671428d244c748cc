"""The keyed chain and its signed checkpoints: each tamper of the review is caught, on both DBs."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from kaimen import audit, audit_checkpoints
from kaimen.audit import GENESIS, AuditEvent, AuditHead
from kaimen.extensions import db
from kaimen.notify import Notification


@pytest.fixture
def sealed(app: Any, tmp_path: Path) -> Path:
    """Keep this test's checkpoints and signing key in its own folder; return the file."""
    app.config.update(
        AUDIT_CHECKPOINTS=str(tmp_path / "checkpoints" / "audit.jsonl"),
        AUDIT_SIGNING_KEY=str(tmp_path / "keys" / "audit-signing-key.pem"),
    )
    return tmp_path / "checkpoints" / "audit.jsonl"


def fill(county: Any, count: int = 5) -> list[AuditEvent]:
    """Record ``count`` events in school A1's chain, one in A2's (so that county A's
    checkpoint signs two chains) and one in B1's; commit; return A1's chain."""
    for i in range(count):
        audit.record(f"test.step{i + 1}", county.a1, school=county.a1, data={"n": i + 1})
        if i == 1:
            audit.record("test.sibling", county.a2, school=county.a2)
    audit.record("test.elsewhere", county.b1, school=county.b1)
    db.session.commit()
    return chain(county.a1.id)


def chain(chain_id: int) -> list[AuditEvent]:
    """Return the chain of the school (or the bureau's own) ``chain_id``, in order."""
    return list(db.session.scalars(
        sa.select(AuditEvent).where(AuditEvent.chain_id == chain_id).order_by(AuditEvent.seq),
        execution_options={"populate_existing": True},
    ))


def signed_chains(fields: dict[str, Any]) -> list[tuple[int, int]]:
    return [(c["chain"], c["seq"]) for c in fields["chains"]]


def execute(sql: str, **params: Any) -> None:
    db.session.execute(sa.text(sql), params)
    db.session.commit()


def seal() -> list[dict[str, Any]]:
    signed = audit_checkpoints.checkpoint()
    db.session.commit()
    return signed


def verify_cli(app: Any, *args: str) -> Any:
    return app.test_cli_runner().invoke(args=["kaimen", "audit", "verify", *args])


def rehash(events: list[AuditEvent], digest: Callable[[AuditEvent], str]) -> None:
    """Recompute a whole chain with ``digest`` and move its head: the review's 25-line script."""
    prev = GENESIS
    for event in events:
        event.prev_hash = prev
        event.hash = prev = digest(event)
    head = db.session.get(AuditHead, events[0].chain_id)
    head.last_hash = prev
    db.session.commit()


# --- the key ----------------------------------------------------------------------------------


def test_hashes_are_keyed(app, ctx, county):
    events = fill(county, 2)
    assert events[0].hash == hmac.new(
        audit.chain_key(), events[0]._canonical(), hashlib.sha256).hexdigest()
    assert events[0].hash != events[0].legacy_hash()
    # the same log under another key does not verify: the key is part of the proof
    app.config["AUDIT_KEY"] = "a-different-audit-key-0123456789abcdef"
    breaches = audit.verify()
    assert {(b.bureau_id, b.chain_id, b.seq) for b in breaches} == {
        (county.a.id, county.a1.id, 1), (county.a.id, county.a2.id, 1),
        (county.b.id, county.b1.id, 1)}
    assert all("changed" in b.reason for b in breaches)


def test_debug_key_is_derived_from_the_secret_and_never_stored(app, ctx, county):
    fill(county, 1)
    derived = audit.chain_key()
    assert derived == hmac.new(app.config["SECRET_KEY"].encode(), b"kaimen audit chain",
                               hashlib.sha256).digest()
    app.config["AUDIT_KEY"] = "configured-audit-key-0123456789abcdef"
    assert audit.chain_key() == b"configured-audit-key-0123456789abcdef"
    stored = " ".join(str(row) for row in db.session.execute(sa.text("SELECT * FROM audit_event")))
    assert derived.hex() not in stored
    assert "configured-audit-key" not in stored


# --- checkpoints ------------------------------------------------------------------------------


def test_untampered_log_verifies_against_its_checkpoints(app, ctx, county, sealed):
    fill(county)
    signed = seal()
    # one line per bureau, with the heads of all of its chains
    assert [(s["bureau"], signed_chains(s)) for s in signed] == [
        ("county-a", [(county.a1.id, 5), (county.a2.id, 1)]),
        ("county-b", [(county.b1.id, 1)])]
    assert signed[0]["chains"][0]["head"] == chain(county.a1.id)[-1].hash
    assert signed[0]["chains"][1]["head"] == chain(county.a2.id)[-1].hash
    key_file = Path(app.config["AUDIT_SIGNING_KEY"])
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert key_file.with_suffix(".pub").exists()
    assert len(sealed.read_text().splitlines()) == 2
    result = verify_cli(app, "--checkpoints", str(sealed))
    assert result.exit_code == 0, result.output
    assert "intact: 7 events" in result.output
    assert "consistent with 2 checkpoints" in result.output

    # nothing moved: nothing new to sign; one chain of a bureau moved: a new line for that
    # bureau, signing all of its chains again, and every line still holds
    assert seal() == []
    audit.record("test.later", county.a2, school=county.a2)
    db.session.commit()
    assert [(s["bureau"], signed_chains(s)) for s in seal()] == [
        ("county-a", [(county.a1.id, 5), (county.a2.id, 2)])]
    # a chain new since the last line (the bureau's own) joins the bureau's next line
    audit.record("test.bureau", county.a, bureau=county.a)
    db.session.commit()
    assert [(s["bureau"], signed_chains(s)) for s in seal()] == [
        ("county-a", [(county.a.id, 1), (county.a1.id, 5), (county.a2.id, 2)])]
    assert len(sealed.read_text().splitlines()) == 4
    result = verify_cli(app, "--checkpoints", str(sealed))
    assert result.exit_code == 0, result.output
    assert "consistent with 4 checkpoints" in result.output


def test_verify_with_the_public_key_alone(app, ctx, county, sealed, tmp_path):
    fill(county)
    seal()
    public = Path(app.config["AUDIT_SIGNING_KEY"]).with_suffix(".pub")
    # an auditor's machine: no signing key there, only its public half
    app.config["AUDIT_SIGNING_KEY"] = str(tmp_path / "absent.pem")
    result = verify_cli(app, "--checkpoints", str(sealed), "--public-key", str(public))
    assert result.exit_code == 0, result.output
    result = verify_cli(app, "--checkpoints", str(sealed))
    assert result.exit_code == 1
    assert "no signing key" in result.output


def test_cli_checkpoint_writes_and_notifies_the_supervisors(app, ctx, county, sealed):
    county.users["a.supervisor"].email = "supervisor-a@example.org"
    county.users["city.supervisor"].email = "city@example.org"
    county.users["b.supervisor"].phone = "13800000001"
    county.users["a.admin"].email = "admin-a@example.org"  # not a supervisor: not told
    fill(county)
    result = app.test_cli_runner().invoke(args=["kaimen", "audit", "checkpoint"])
    assert result.exit_code == 0, result.output
    assert "2 checkpoints written" in result.output
    notices = db.session.scalars(sa.select(Notification).order_by(Notification.id)).all()
    assert [(n.channel, n.recipient) for n in notices] == [
        ("email", "supervisor-a@example.org"),
        ("email", "city@example.org"),
        ("sms", "13800000001"),
    ]
    first = notices[0]
    # in the bureau's language (zh_Hans by default)
    assert first.subject == f"{county.a.name}审计日志存证点：2条链共6条事件"
    assert "审计日志" in first.body
    # the notice carries the signed line itself: a supervisor's copy verifies the log
    line = first.body.strip().splitlines()[-1]
    assert json.loads(line)["chains"][0]["head"] == chain(county.a1.id)[-1].hash
    copy = sealed.parent / "supervisor-copy.jsonl"
    copy.write_text(line + "\n")
    assert verify_cli(app, "--checkpoints", str(copy)).exit_code == 0


# --- the tampers -------------------------------------------------------------------------------


def change_a_field(county: Any, events: list[AuditEvent]) -> None:
    execute("UPDATE audit_event SET actor_name = 'nobody' WHERE id = :id", id=events[2].id)


def delete_a_middle_row(county: Any, events: list[AuditEvent]) -> None:
    execute("DELETE FROM audit_event WHERE id = :id", id=events[2].id)


def reorder(county: Any, events: list[AuditEvent]) -> None:
    second, third = events[1], events[2]
    execute("UPDATE audit_event SET seq = 0 WHERE id = :id", id=second.id)
    execute("UPDATE audit_event SET seq = 2 WHERE id = :id", id=third.id)
    execute("UPDATE audit_event SET seq = 3 WHERE id = :id", id=second.id)


def delete_the_last_and_rewind_the_head(county: Any, events: list[AuditEvent]) -> None:
    execute("DELETE FROM audit_event WHERE chain_id = :c AND seq > 3", c=county.a1.id)
    execute("UPDATE audit_head SET seq = 3, last_hash = :h WHERE chain_id = :c",
            h=events[2].hash, c=county.a1.id)


def delete_the_school_chain_with_its_head(county: Any, events: list[AuditEvent]) -> None:
    execute("DELETE FROM audit_event WHERE chain_id = :c", c=county.a1.id)
    execute("DELETE FROM audit_head WHERE chain_id = :c", c=county.a1.id)


def recompute_with_plain_sha256(county: Any, events: list[AuditEvent]) -> None:
    events[1].action = "test.harmless"
    rehash(events, AuditEvent.legacy_hash)


def recompute_with_a_guessed_key(county: Any, events: list[AuditEvent]) -> None:
    events[1].action = "test.harmless"
    rehash(events, lambda event: event.compute_hash(b"kaimen"))


TAMPERS = [
    # tamper, caught by the chain alone?, first bad event, words of the reason
    (change_a_field, True, 3, "content was changed"),
    (delete_a_middle_row, True, 4, "expected #3: events missing"),
    (reorder, True, 2, "does not follow"),
    (delete_the_last_and_rewind_the_head, False, 3, "recorded #5, but the chain ends at #3"),
    (delete_the_school_chain_with_its_head, False, None,
     "recorded #5, but the chain has no events"),
    (recompute_with_plain_sha256, True, 1, "hashed without the audit key"),
    (recompute_with_a_guessed_key, True, 1, "content was changed"),
]


@pytest.mark.parametrize(("tamper", "alone", "seq", "reason"), TAMPERS,
                         ids=[t[0].__name__ for t in TAMPERS])
def test_each_tamper_is_caught_against_the_checkpoints(
    app, ctx, county, sealed, tamper, alone, seq, reason
):
    events = fill(county)
    seal()
    assert audit.verify() == []
    tamper(county, events)
    # what the chain catches by itself, and what only the checkpoints outside it reveal
    assert bool(audit.verify()) is alone
    anchors = audit_checkpoints.read(sealed, audit_checkpoints.public_key())
    [breach] = audit.verify(anchors)
    assert (breach.bureau_id, breach.chain_id, breach.seq) == (county.a.id, county.a1.id, seq)
    assert reason in breach.reason
    result = verify_cli(app, "--checkpoints", str(sealed))
    assert result.exit_code == 1
    assert f"BROKEN: {breach}" in result.output
    where = f"BROKEN: bureau {county.a.id}, school {county.a1.id}"
    if seq is None:
        assert f"{where}: the checkpoint of " in result.output
    elif breach.event_id is None:
        assert f"{where}, head at #{seq}: " in result.output
    else:
        assert f"{where}, event #{seq} (id {breach.event_id}): " in result.output
    assert reason in result.output
    assert "intact" not in result.output


def test_rewritten_with_the_key_is_caught_by_the_signed_head(app, ctx, county, sealed):
    """An insider holding the chain key but not the signing key still cannot rewrite history."""
    events = fill(county)
    seal()
    events[1].action = "test.harmless"
    rehash(events, lambda event: event.compute_hash())
    assert audit.verify() == []  # the key made it self-consistent
    anchors = audit_checkpoints.read(sealed, audit_checkpoints.public_key())
    [breach] = audit.verify(anchors)
    assert (breach.chain_id, breach.seq, breach.event_id) == (county.a1.id, 5, events[-1].id)
    assert "differs from the checkpoint" in breach.reason


def test_checkpoint_refuses_to_sign_a_tampered_log(app, ctx, county, sealed):
    events = fill(county)
    seal()
    before = sealed.read_text()
    delete_the_last_and_rewind_the_head(county, events)
    audit.record("test.after-rewind", county.a1, school=county.a1)
    db.session.commit()
    result = app.test_cli_runner().invoke(args=["kaimen", "audit", "checkpoint"])
    assert result.exit_code == 1
    assert "nothing was signed" in result.output
    assert "recorded #5, but the chain ends at #4" in result.output
    assert sealed.read_text() == before
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Notification)) == 0


def test_every_chain_of_a_bureau_is_held_by_its_checkpoint(app, ctx, county, sealed):
    """Cutting short, or deleting whole, the chain of the school a checkpoint signed second
    (not only the first) is caught; so is a bureau's whole log deleted with its heads."""
    fill(county)
    for _ in range(3):
        audit.record("test.sibling.more", county.a2, school=county.a2)
    db.session.commit()
    seal()
    siblings = chain(county.a2.id)
    assert len(siblings) == 4
    anchors = lambda: audit_checkpoints.read(sealed, audit_checkpoints.public_key())  # noqa: E731
    execute("DELETE FROM audit_event WHERE chain_id = :c AND seq > 2", c=county.a2.id)
    execute("UPDATE audit_head SET seq = 2, last_hash = :h WHERE chain_id = :c",
            h=siblings[1].hash, c=county.a2.id)
    assert audit.verify() == []
    [breach] = audit.verify(anchors())
    assert (breach.bureau_id, breach.chain_id, breach.seq) == (county.a.id, county.a2.id, 2)
    assert "recorded #4, but the chain ends at #2" in breach.reason
    result = verify_cli(app, "--checkpoints", str(sealed))
    assert result.exit_code == 1
    assert f"BROKEN: bureau {county.a.id}, school {county.a2.id}, head at #2: " in result.output

    execute("DELETE FROM audit_event WHERE bureau_id = :b", b=county.a.id)
    execute("DELETE FROM audit_head WHERE bureau_id = :b", b=county.a.id)
    assert audit.verify() == []  # what is left adds up, on its own
    found = {(b.bureau_id, b.chain_id, b.seq) for b in audit.verify(anchors())}
    assert found == {(county.a.id, county.a1.id, None), (county.a.id, county.a2.id, None)}


def test_a_head_moved_to_another_bureau_still_answers_to_its_checkpoints(app, ctx, county,
                                                                          sealed):
    events = fill(county)
    seal()
    execute("UPDATE audit_head SET bureau_id = :b WHERE chain_id = :c",
            b=county.b.id, c=county.a1.id)
    delete_the_last_and_rewind_the_head(county, events)
    [breach] = audit.verify(audit_checkpoints.read(sealed, audit_checkpoints.public_key()))
    assert (breach.chain_id, breach.seq) == (county.a1.id, 3)


def sign_v1(key: Ed25519PrivateKey, bureau: Any, seq: int, head: str) -> str:
    """Return a checkpoint line as it was signed before chains per school: one head a bureau."""
    fields = {"bureau_id": bureau.id, "bureau": bureau.slug, "seq": seq, "head": head,
              "time": "2026-11-30T08:00:00Z"}
    message = b"kaimen audit checkpoint v1\n" + json.dumps(
        fields, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode()
    fields["key"] = audit_checkpoints.key_id(key.public_key())
    fields["signature"] = base64.b64encode(key.sign(message)).decode()
    return audit_checkpoints.line_of(fields)


def test_checkpoints_signed_before_chains_per_school_still_hold(app, ctx, county, sealed):
    """Lines of the old format sign the chain that 0016 made the bureau's own: it verifies
    against them, a cut is caught by them, and new lines follow them in the same file."""
    for i in range(4):
        audit.record(f"test.before{i + 1}", county.a, bureau=county.a)
    db.session.commit()
    own = chain(county.a.id)
    key = audit_checkpoints.signing_key(create=True)
    sealed.parent.mkdir(parents=True, exist_ok=True)
    sealed.write_text(sign_v1(key, county.a, 4, own[-1].hash) + "\n")
    [old] = audit_checkpoints.read(sealed, key.public_key())
    assert old.heads == (audit.ChainHead(county.a.id, 4, own[-1].hash),)

    fill(county)  # after the upgrade: the schools' chains begin
    assert [(s["bureau"], signed_chains(s)) for s in seal()] == [
        ("county-a", [(county.a.id, 4), (county.a1.id, 5), (county.a2.id, 1)]),
        ("county-b", [(county.b1.id, 1)])]
    result = verify_cli(app, "--checkpoints", str(sealed))
    assert result.exit_code == 0, result.output
    assert "consistent with 3 checkpoints" in result.output

    # an old line alone still catches its chain cut short
    sealed.write_text(sign_v1(key, county.a, 4, own[-1].hash) + "\n")
    execute("DELETE FROM audit_event WHERE chain_id = :c AND seq > 2", c=county.a.id)
    execute("UPDATE audit_head SET seq = 2, last_hash = :h WHERE chain_id = :c",
            h=own[1].hash, c=county.a.id)
    assert audit.verify() == []
    [breach] = audit.verify(audit_checkpoints.read(sealed, key.public_key()))
    assert (breach.bureau_id, breach.chain_id, breach.seq) == (county.a.id, county.a.id, 2)
    assert "recorded #4, but the chain ends at #2" in breach.reason


# --- forged checkpoints ------------------------------------------------------------------------


def rewrite_line(path: Path, number: int, change: Callable[[dict[str, Any]], None]) -> None:
    lines = path.read_text().splitlines()
    fields = json.loads(lines[number - 1])
    change(fields)
    lines[number - 1] = json.dumps(fields, ensure_ascii=False)
    path.write_text("\n".join(lines) + "\n")


def forge_with_another_key(fields: dict[str, Any]) -> None:
    fields["chains"][0]["seq"] = 3
    signature = Ed25519PrivateKey.generate().sign(audit_checkpoints._message(fields))
    fields["signature"] = base64.b64encode(signature).decode()


FORGERIES = {
    "altered_head": (lambda f: f["chains"][0].update(head="0" * 64), "signature does not match"),
    "altered_seq": (lambda f: f["chains"][0].update(seq=3), "signature does not match"),
    "dropped_chain": (lambda f: f["chains"].pop(), "signature does not match"),
    "another_key": (forge_with_another_key, "signature does not match"),
    # a field the signature does not cover could be read as part of the checkpoint
    "unsigned_field": (lambda f: f.update(seq=3), "not a checkpoint"),
    "no_chains": (lambda f: f.update(chains=[]), "not a checkpoint"),
    "no_signature": (lambda f: f.pop("signature"), "not a checkpoint"),
    "bad_base64": (lambda f: f.update(signature="%%%"), "not a checkpoint"),
}


@pytest.mark.parametrize("forgery", sorted(FORGERIES))
def test_forged_checkpoint_is_refused(app, ctx, county, sealed, forgery):
    change, message = FORGERIES[forgery]
    fill(county)
    seal()
    rewrite_line(sealed, 1, change)
    with pytest.raises(audit_checkpoints.CheckpointError, match=message):
        audit_checkpoints.read(sealed, audit_checkpoints.public_key())
    result = verify_cli(app, "--checkpoints", str(sealed))
    assert result.exit_code == 1
    assert f"BROKEN: {sealed}, line 1: " in result.output
    assert message in result.output
    # nor is a new checkpoint signed on top of a forged file
    result = app.test_cli_runner().invoke(args=["kaimen", "audit", "checkpoint"])
    assert result.exit_code == 1
    assert message in result.output


def test_unreadable_signing_key_is_refused(app, ctx, county, sealed):
    key_file = Path(app.config["AUDIT_SIGNING_KEY"])
    key_file.parent.mkdir(parents=True)
    key_file.write_text("not a key")
    fill(county)
    result = app.test_cli_runner().invoke(args=["kaimen", "audit", "checkpoint"])
    assert result.exit_code == 1
    assert "not a readable private key" in result.output
    assert not sealed.exists()


def test_signing_key_from_configuration_is_used(app, ctx, county, sealed):
    key = Ed25519PrivateKey.generate()
    key_file = Path(app.config["AUDIT_SIGNING_KEY"])
    key_file.parent.mkdir(parents=True)
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    fill(county)
    [first, _second] = seal()
    assert first["key"] == audit_checkpoints.key_id(key.public_key())
    assert audit_checkpoints.read(sealed, key.public_key())


# --- re-keying a log written before the key -----------------------------------------------------


def make_legacy(county: Any) -> list[AuditEvent]:
    """Turn county A's own chain (where every event was before chains per school, 0016) into
    what the platform wrote before the chain was keyed."""
    for i in range(5):
        audit.record(f"test.step{i + 1}", county.a, bureau=county.a, data={"n": i + 1})
    fill(county)  # the schools' chains, all keyed: left alone
    events = chain(county.a.id)
    rehash(events, AuditEvent.legacy_hash)
    return events


def test_rechain_rekeys_a_legacy_log_once(app, ctx, county, sealed):
    make_legacy(county)
    # written after upgrading, before the rechain: keyed, linked to the legacy hashes
    audit.record("test.upgraded", county.a, bureau=county.a)
    db.session.commit()
    [breach] = audit.verify()
    assert (breach.bureau_id, breach.chain_id, breach.seq) == (county.a.id, county.a.id, 1)
    assert "rechain" in breach.reason
    result = app.test_cli_runner().invoke(args=["kaimen", "audit", "rechain"])
    assert result.exit_code == 0, result.output
    assert f"bureau {county.a.id}: 5 events re-keyed" in result.output
    assert "1 chains re-keyed" in result.output
    assert audit.verify() == []
    rekeyed = chain(county.a.id)
    assert [e.action for e in rekeyed][-2:] == ["test.upgraded", "audit.rechained"]
    assert rekeyed[-1].data == {"events": 5}
    # a second run has nothing to do
    result = app.test_cli_runner().invoke(args=["kaimen", "audit", "rechain"])
    assert "0 chains re-keyed" in result.output
    assert len(chain(county.a.id)) == 7


def test_rechain_refuses_a_tampered_legacy_log(app, ctx, county, sealed):
    events = make_legacy(county)
    execute("UPDATE audit_event SET action = 'test.harmless' WHERE id = :id", id=events[1].id)
    result = app.test_cli_runner().invoke(args=["kaimen", "audit", "rechain"])
    assert result.exit_code == 1
    assert f"bureau {county.a.id}: event #2 was changed" in result.output
    assert audit.verify()[0].seq == 1  # nothing was re-keyed
    assert chain(county.a.id)[1].hash == events[1].hash
    assert len(audit.verify()) == 1  # the schools' chains were never in question


def test_rechain_refuses_a_checkpointed_bureau(app, ctx, county, sealed):
    """A chain recomputed with plain SHA-256 after it was sealed must not be blessed by rechain."""
    events = fill(county)
    seal()
    recompute_with_plain_sha256(county, events)
    result = app.test_cli_runner().invoke(args=["kaimen", "audit", "rechain"])
    assert result.exit_code == 1
    assert "signed checkpoints" in result.output
    assert "hashed without the audit key" in audit.verify()[0].reason
