"""The outbox: enqueued in the caller's transaction, delivered by command, at most once."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from datetime import timedelta
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default as default_policy
from typing import Any

import kaimen_test_sms
import pytest
import sqlalchemy as sa
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP
from conftest import make_app

from kaimen import notify, tenancy
from kaimen.extensions import db
from kaimen.notify import FAILED, PENDING, SENDING, SENT, Notification
from kaimen.timeutil import utcnow

BODY = "尊敬的家长：本周五下午三点召开家长会，请准时参加。"
SUBJECT = "家长会通知"


class Collector:
    """An aiosmtpd handler keeping every message it accepts."""

    def __init__(self) -> None:
        self.messages: list[tuple[list[str], EmailMessage]] = []
        self.lock = threading.Lock()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        message = message_from_bytes(envelope.original_content, policy=default_policy)
        with self.lock:
            self.messages.append((list(envelope.rcpt_tos), message))
        return "250 Message accepted for delivery"

    def recipients(self) -> list[str]:
        with self.lock:
            return [rcpt for rcpts, _ in self.messages for rcpt in rcpts]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def smtp_server() -> Iterator[tuple[Controller, Collector]]:
    collector = Collector()
    controller = Controller(collector, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        yield controller, collector
    finally:
        controller.stop()


def smtp_settings(controller: Controller) -> dict[str, Any]:
    return {"MAIL_BACKEND": "smtp", "SMTP_HOST": "127.0.0.1", "SMTP_PORT": controller.port,
            "MAIL_SENDER": "kaimen@county-a.example.org"}


@pytest.fixture
def smtp(app, smtp_server) -> Collector:
    controller, collector = smtp_server
    app.config.update(smtp_settings(controller))
    return collector


@pytest.fixture
def recorders() -> Iterator[None]:
    for adapter in (kaimen_test_sms.RecordingGateway, kaimen_test_sms.RecordingMail):
        adapter.sent.clear()
    yield
    for adapter in (kaimen_test_sms.RecordingGateway, kaimen_test_sms.RecordingMail):
        adapter.sent.clear()


def stored(message_id: int) -> Notification:
    """Read a message as stored, not as the session remembers it."""
    return db.session.scalars(
        sa.select(Notification).where(Notification.id == message_id),
        execution_options={"populate_existing": True},
    ).one()


def mail(county: Any, recipient: str = "parent@example.org", **values: Any) -> int:
    message = notify.enqueue("email", recipient, values.pop("body", BODY),
                             subject=values.pop("subject", SUBJECT), school=county.a1)
    db.session.commit()
    return message.id


# --- sending -----------------------------------------------------------------------------------


def test_deliver_sends_mail_through_smtp(ctx, county, smtp):
    message_id = mail(county, "  parent@example.org ")
    report = notify.deliver()
    assert (report.sent, report.retrying, report.failed, report.stuck) == (1, 0, 0, 0)
    [(rcpt_tos, received)] = smtp.messages
    assert rcpt_tos == ["parent@example.org"]
    assert received["To"] == "parent@example.org"
    assert received["From"] == "kaimen@county-a.example.org"
    assert received["Subject"] == SUBJECT
    assert received.get_content_charset() == "utf-8"
    assert received.get_content().strip() == BODY
    row = stored(message_id)
    assert (row.status, row.attempts, row.last_error) == (SENT, 1, None)
    assert row.school_id == county.a1.id
    assert row.sent_at is not None
    assert row.sent_at <= utcnow()


def test_cli_delivers_the_outbox(app, ctx, county, smtp):
    mail(county, "one@example.org")
    mail(county, "two@example.org", subject="成绩单", body="您孩子的成绩单已发布。")
    result = app.test_cli_runner().invoke(args=["kaimen", "notify"])
    assert result.exit_code == 0, result.output
    assert "sent 2, retrying 0, failed 0" in result.output
    assert sorted(smtp.recipients()) == ["one@example.org", "two@example.org"]
    subjects = {m["Subject"]: m.get_content().strip() for _, m in smtp.messages}
    assert subjects == {SUBJECT: BODY, "成绩单": "您孩子的成绩单已发布。"}


def test_cli_limit(app, ctx, county, smtp):
    for n in range(3):
        mail(county, f"p{n}@example.org")
    result = app.test_cli_runner().invoke(args=["kaimen", "notify", "--limit", "2"])
    assert "sent 2," in result.output
    assert smtp.recipients() == ["p0@example.org", "p1@example.org"]


def test_rolled_back_enqueue_sends_nothing(ctx, county, smtp):
    notify.enqueue("email", "ghost@example.org", BODY, subject=SUBJECT, school=county.a1)
    db.session.flush()
    db.session.rollback()
    report = notify.deliver()
    assert report.sent == 0
    assert smtp.messages == []
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Notification)) == 0


def test_sent_message_is_never_sent_again(ctx, county, smtp):
    message_id = mail(county)
    assert notify.deliver().sent == 1
    assert notify.deliver().sent == 0
    assert len(smtp.messages) == 1
    # even once it would be "due" again
    db.session.execute(sa.update(Notification).values(next_attempt_at=utcnow() - timedelta(days=1)))
    db.session.commit()
    assert notify.deliver().sent == 0
    assert len(smtp.messages) == 1
    assert stored(message_id).attempts == 1


def test_message_not_yet_due_waits(ctx, county, smtp):
    message_id = mail(county)
    later = utcnow() + timedelta(hours=1)
    db.session.execute(sa.update(Notification).values(next_attempt_at=later))
    db.session.commit()
    assert notify.deliver().sent == 0
    assert smtp.messages == []
    assert stored(message_id).status == PENDING


def test_enqueue_checks_its_input(ctx, county):
    with pytest.raises(ValueError, match="channel"):
        notify.enqueue("fax", "x", "body")
    message = notify.enqueue("email", "a@example.org", "body", subject="题" * 300)
    assert len(message.subject) == 200


# --- failures ----------------------------------------------------------------------------------


def test_failing_server_is_retried_with_back_off(app, ctx, county):
    app.config.update(MAIL_BACKEND="smtp", SMTP_HOST="127.0.0.1", SMTP_PORT=free_port(),
                      NOTIFY_MAX_ATTEMPTS=3)
    message_id = mail(county)
    before = utcnow()
    report = notify.deliver()
    assert (report.sent, report.retrying, report.failed) == (0, 1, 0)
    row = stored(message_id)
    assert (row.status, row.attempts, row.sent_at) == (PENDING, 1, None)
    assert "ConnectionRefused" in row.last_error
    assert row.next_attempt_at >= before + timedelta(minutes=2)
    first_wait = row.next_attempt_at - before

    # not due yet: the next run leaves it alone
    assert notify.deliver().retrying == 0
    assert stored(message_id).attempts == 1

    make_due(message_id)
    before = utcnow()
    assert notify.deliver().retrying == 1
    row = stored(message_id)
    assert (row.status, row.attempts) == (PENDING, 2)
    assert row.next_attempt_at - before > first_wait

    make_due(message_id)
    report = notify.deliver()
    assert (report.sent, report.retrying, report.failed) == (0, 0, 1)
    row = stored(message_id)
    assert (row.status, row.attempts) == (FAILED, 3)
    assert row.last_error

    make_due(message_id)
    assert notify.deliver() == notify.DeliveryReport()
    assert stored(message_id).attempts == 3


class ErrorOnQuit(Collector):
    """Accept every message at DATA (250), then answer QUIT with an error."""

    async def handle_QUIT(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        return "554 5.3.0 Something went wrong after the message was queued"


class HangUpOnQuit(Controller):
    """Accept every message at DATA (250), then drop the connection instead of answering QUIT."""

    def factory(self) -> SMTP:
        return _HangingUp(self.handler, **self.SMTP_kwargs)


class _HangingUp(SMTP):
    async def smtp_QUIT(self, arg: str) -> None:  # noqa: N802
        assert self._handler_coroutine is not None
        assert self.transport is not None
        self._handler_coroutine.cancel()
        self.transport.close()


@pytest.mark.parametrize("misbehaviour", ["error_on_quit", "hang_up_on_quit"])
def test_message_accepted_at_data_is_sent_once(app, ctx, county, misbehaviour):
    if misbehaviour == "error_on_quit":
        collector = ErrorOnQuit()
        controller = Controller(collector, hostname="127.0.0.1", port=free_port())
    else:
        collector = Collector()
        controller = HangUpOnQuit(collector, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        app.config.update(smtp_settings(controller))
        message_id = mail(county)
        report = notify.deliver()
        assert (report.sent, report.retrying, report.failed) == (1, 0, 0)
        row = stored(message_id)
        assert (row.status, row.attempts, row.last_error) == (SENT, 1, None)
        # a later run, even once it would be due, sends nothing more
        make_due(message_id)
        assert notify.deliver() == notify.DeliveryReport()
    finally:
        controller.stop()
    assert collector.recipients() == ["parent@example.org"]
    assert stored(message_id).attempts == 1


def test_refused_message_still_ends_the_session(app, ctx, county):
    """A server that refuses at DATA: retried, and the connection is closed either way."""

    class Refusing(Collector):
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
            return "451 4.3.0 Try again later"

    controller = Controller(Refusing(), hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        app.config.update(smtp_settings(controller))
        message_id = mail(county)
        assert notify.deliver().retrying == 1
    finally:
        controller.stop()
    row = stored(message_id)
    assert (row.status, row.attempts) == (PENDING, 1)
    assert "451" in row.last_error


def make_due(message_id: int) -> None:
    db.session.execute(sa.update(Notification).where(Notification.id == message_id)
                       .values(next_attempt_at=utcnow() - timedelta(seconds=1)))
    db.session.commit()


def test_stopped_server_then_recovered(app, ctx, county):
    collector = Collector()
    controller = Controller(collector, hostname="127.0.0.1", port=free_port())
    controller.start()
    app.config.update(smtp_settings(controller))
    controller.stop()
    message_id = mail(county)
    assert notify.deliver().retrying == 1
    row = stored(message_id)
    assert (row.status, row.attempts) == (PENDING, 1)
    assert row.next_attempt_at > utcnow()
    assert row.last_error
    # an aiosmtpd controller does not start twice: a new server on the same port
    revived = Controller(collector, hostname="127.0.0.1", port=controller.port)
    revived.start()
    try:
        make_due(message_id)
        assert notify.deliver().sent == 1
    finally:
        revived.stop()
    assert collector.recipients() == ["parent@example.org"]
    assert (stored(message_id).status, stored(message_id).attempts) == (SENT, 2)


def test_stuck_message_is_reported_not_resent(app, ctx, county, smtp):
    message_id = mail(county)
    db.session.execute(sa.update(Notification).values(
        status=SENDING, attempts=1, next_attempt_at=utcnow() - timedelta(hours=1)))
    db.session.commit()
    report = notify.deliver()
    assert (report.sent, report.stuck) == (0, 1)
    assert smtp.messages == []
    assert stored(message_id).status == SENDING
    result = app.test_cli_runner().invoke(args=["kaimen", "notify"])
    assert result.exit_code == 0
    assert "1 messages were being sent when a worker stopped" in result.stderr
    assert smtp.messages == []


# --- other channels and backends ----------------------------------------------------------------


def test_sms_goes_through_the_configured_gateway(app, ctx, county, recorders):
    app.config["SMS_BACKEND"] = "kaimen_test_sms:RecordingGateway"
    notify.enqueue("sms", " 13800000000 ", "明天因雪停课。", subject="停课通知", school=county.a1)
    notify.enqueue("sms", "13900000000", "请查收成绩单。")
    db.session.commit()
    assert notify.deliver().sent == 2
    assert kaimen_test_sms.RecordingGateway.sent == [
        ("13800000000", "停课通知\n明天因雪停课。"),
        ("13900000000", "请查收成绩单。"),
    ]


def test_failing_sms_gateway_is_retried(app, ctx, county):
    app.config["SMS_BACKEND"] = "kaimen_test_sms:FailingGateway"
    message = notify.enqueue("sms", "13800000000", "text")
    db.session.commit()
    assert notify.deliver().retrying == 1
    row = stored(message.id)
    assert (row.status, row.attempts) == (PENDING, 1)
    assert row.last_error == "RuntimeError: gateway refused 13800000000"


def test_mail_backend_by_path(app, ctx, county, recorders):
    app.config["MAIL_BACKEND"] = "kaimen_test_sms:RecordingMail"
    mail(county)
    assert notify.deliver().sent == 1
    assert kaimen_test_sms.RecordingMail.sent == [("parent@example.org", SUBJECT, BODY)]


def test_console_backends_print(app, ctx, county, capsys):
    app.config.update(MAIL_BACKEND="console", SMS_BACKEND=None)
    mail(county)
    notify.enqueue("sms", "13800000000", "短信正文")
    db.session.commit()
    assert notify.deliver().sent == 2
    out = capsys.readouterr().out
    assert f"--- mail to parent@example.org: {SUBJECT}\n{BODY}" in out
    assert "--- sms to 13800000000\n短信正文" in out


# --- several workers, real commits --------------------------------------------------------------


@pytest.fixture
def real_app(backend, fresh_database) -> Iterator[Any]:
    """An app whose commits are real, for several workers at once."""
    app = make_app(fresh_database.url(backend))
    with app.app_context():
        db.create_all()
    yield app
    with app.app_context():
        db.engine.dispose()


def run_workers(app: Any, count: int, work: Any) -> list[Any]:
    results: list[Any] = []
    errors: list[BaseException] = []
    start = threading.Barrier(count)

    def worker() -> None:
        try:
            start.wait()
            with app.app_context(), tenancy.system_scope():
                results.append(work())
        except BaseException as error:  # noqa: BLE001 - reported by the main thread
            errors.append(error)

    threads = [threading.Thread(target=worker) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(t.is_alive() for t in threads), "workers did not finish"
    assert errors == []
    return results


def test_concurrent_workers_send_each_message_once(real_app, smtp_server):
    controller, collector = smtp_server
    real_app.config.update(smtp_settings(controller))
    total = 40
    with real_app.app_context():
        for n in range(total):
            notify.enqueue("email", f"parent{n}@example.org", f"{BODY} ({n})", subject=SUBJECT)
        db.session.commit()
    reports = run_workers(real_app, 3, notify.deliver)
    assert sum(r.sent for r in reports) == total
    recipients = collector.recipients()
    assert len(recipients) == total
    assert set(recipients) == {f"parent{n}@example.org" for n in range(total)}
    with real_app.app_context():
        rows = db.session.scalars(sa.select(Notification)).all()
        assert {(r.status, r.attempts) for r in rows} == {(SENT, 1)}


def test_message_being_sent_holds_no_lock_and_is_not_stuck(real_app):
    """While one worker talks to a slow server, another runs: nothing waits, nothing is 'stuck'."""
    blocking = kaimen_test_sms.BlockingMail
    blocking.started.clear()
    blocking.release.clear()
    blocking.sent.clear()
    real_app.config["MAIL_BACKEND"] = "kaimen_test_sms:BlockingMail"
    with real_app.app_context():
        # waiting in the queue for an hour before a worker picks it up
        message = notify.enqueue("email", "slow@example.org", BODY, subject=SUBJECT)
        message.next_attempt_at = message.created_at = utcnow() - timedelta(hours=1)
        db.session.commit()
    reports: list[Any] = []
    errors: list[BaseException] = []

    def first_worker() -> None:
        try:
            with real_app.app_context(), tenancy.system_scope():
                reports.append(notify.deliver())
        except BaseException as error:  # noqa: BLE001 - reported by the main thread
            errors.append(error)

    thread = threading.Thread(target=first_worker)
    thread.start()
    try:
        assert blocking.started.wait(timeout=30), "the first worker never started sending"
        with real_app.app_context(), tenancy.system_scope():
            second = notify.deliver()
            # the second worker neither resends it nor calls it stuck: it is being sent now
            assert (second.sent, second.stuck) == (0, 0)
            assert db.session.scalar(sa.select(Notification.status)) == SENDING
    finally:
        blocking.release.set()
        thread.join(timeout=60)
    assert errors == []
    assert [(r.sent, r.stuck) for r in reports] == [(1, 0)]
    assert blocking.sent == ["slow@example.org"]
