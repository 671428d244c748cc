"""Notifications: an outbox written in the caller's transaction, delivered by a command.

Nothing is sent from a request. ``enqueue`` adds a row; ``flask kaimen notify``
claims rows one by one (``FOR UPDATE SKIP LOCKED`` on PostgreSQL, so several
workers can run), marks each ``sending`` and commits *before* sending, then
marks it ``sent``. A worker that dies mid-send leaves the row ``sending``,
never retried automatically: a message is sent at most once. Failures are
retried with back-off up to ``KAIMEN_NOTIFY_MAX_ATTEMPTS``.
"""

from __future__ import annotations

import importlib
import smtplib
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage
from typing import Any, Protocol

import click
import sqlalchemy as sa
from flask import current_app
from sqlalchemy.orm import Mapped, mapped_column

from .extensions import Model, db
from .timeutil import utcnow

EMAIL, SMS = "email", "sms"
PENDING, SENDING, SENT, FAILED = "pending", "sending", "sent", "failed"


class Notification(Model):
    """One message waiting in, or delivered from, the outbox."""

    __tablename__ = "notification"
    __table_args__ = (sa.Index("ix_notification_due", "status", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    channel: Mapped[str] = mapped_column(sa.String(8))
    recipient: Mapped[str] = mapped_column(sa.String(200))
    subject: Mapped[str] = mapped_column(sa.String(200), default="")
    body: Mapped[str] = mapped_column(sa.Text)
    school_id: Mapped[int | None] = mapped_column(sa.ForeignKey("organisation.id"))
    status: Mapped[str] = mapped_column(sa.String(8), default=PENDING)
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_error: Mapped[str | None] = mapped_column(sa.Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[datetime | None]


def enqueue(channel: str, recipient: str, body: str, *, subject: str = "", school: Any = None):
    """Add a message to the outbox in the caller's transaction."""
    if channel not in (EMAIL, SMS):
        raise ValueError(f"unknown channel {channel!r}")
    message = Notification(
        channel=channel,
        recipient=recipient.strip(),
        subject=subject[:200],
        body=body,
        school_id=school.id if school is not None else None,
    )
    db.session.add(message)
    return message


class MailBackend(Protocol):
    def send(self, recipient: str, subject: str, body: str) -> None: ...


class SmsGateway(Protocol):
    """What an SMS gateway adapter implements: one text message to one phone number."""

    def send(self, recipient: str, text: str) -> None: ...


class ConsoleMail:
    """Print mail to standard output: the development default."""

    def send(self, recipient: str, subject: str, body: str) -> None:
        click.echo(f"--- mail to {recipient}: {subject}\n{body}\n---")


class SmtpMail:
    """Send mail through an SMTP server."""

    def __init__(self, config: dict) -> None:
        self.config = config

    def send(self, recipient: str, subject: str, body: str) -> None:
        message = EmailMessage()
        message["From"] = self.config["MAIL_SENDER"]
        message["To"] = recipient
        message["Subject"] = subject
        message.set_content(body)
        smtp = smtplib.SMTP(self.config["SMTP_HOST"], self.config["SMTP_PORT"], timeout=30)
        try:
            if self.config["SMTP_STARTTLS"]:
                smtp.starttls()
            if self.config["SMTP_USERNAME"]:
                smtp.login(self.config["SMTP_USERNAME"], self.config["SMTP_PASSWORD"] or "")
            smtp.send_message(message)
        finally:
            _hang_up(smtp)


def _hang_up(smtp: smtplib.SMTP) -> None:
    """End an SMTP session whatever the server answers to QUIT.

    Not ``with smtplib.SMTP(...)``: its exit raises when QUIT is answered with an
    error, which would count a message the server accepted at DATA (250) as
    unsent, and send it again on every run.
    """
    try:
        smtp.quit()
    except (smtplib.SMTPException, OSError):
        smtp.close()


class ConsoleSms:
    """Print text messages to standard output until a gateway is configured."""

    def send(self, recipient: str, text: str) -> None:
        click.echo(f"--- sms to {recipient}\n{text}\n---")


def _load_object(path: str) -> Any:
    module_name, _, attr = path.partition(":")
    return getattr(importlib.import_module(module_name), attr)


def mail_backend() -> MailBackend:
    config = current_app.config
    name = config["MAIL_BACKEND"]
    if name == "console":
        return ConsoleMail()
    if name == "smtp":
        return SmtpMail(config)
    return _load_object(name)()


def sms_gateway() -> SmsGateway:
    path = current_app.config.get("SMS_BACKEND")
    return _load_object(path)() if path else ConsoleSms()


@dataclass
class DeliveryReport:
    sent: int = 0
    retrying: int = 0
    failed: int = 0
    stuck: int = 0


def _claim_next() -> Notification | None:
    message = db.session.scalar(
        sa.select(Notification)
        .where(Notification.status == PENDING, Notification.next_attempt_at <= utcnow())
        .order_by(Notification.id)
        .limit(1)
        .with_for_update(skip_locked=True)
    )
    if message is not None:
        message.status = SENDING
        message.attempts += 1
        message.next_attempt_at = utcnow()  # while sending: when it was claimed (see ``stuck``)
    db.session.commit()
    return message


def _send(message: Notification) -> None:
    channel, recipient, subject, body = (
        message.channel,
        message.recipient,
        message.subject,
        message.body,
    )
    db.session.commit()  # end the read that loaded them: hold no lock while a server answers
    if channel == EMAIL:
        mail_backend().send(recipient, subject, body)
    else:
        sms_gateway().send(recipient, f"{subject}\n{body}" if subject else body)


def deliver(limit: int = 500) -> DeliveryReport:
    """Send up to ``limit`` due messages, each in its own transactions."""
    report = DeliveryReport()
    max_attempts = current_app.config["NOTIFY_MAX_ATTEMPTS"]
    for _ in range(limit):
        message = _claim_next()
        if message is None:
            break
        try:
            _send(message)
        except Exception as exc:  # noqa: BLE001 - any backend failure is retried or recorded
            message.last_error = f"{type(exc).__name__}: {exc}"[:2000]
            if message.attempts >= max_attempts:
                message.status = FAILED
                report.failed += 1
            else:
                message.status = PENDING
                message.next_attempt_at = utcnow() + timedelta(minutes=2**message.attempts)
                report.retrying += 1
        else:
            message.status, message.sent_at = SENT, utcnow()
            report.sent += 1
        db.session.commit()
    report.stuck = (
        db.session.scalar(
            sa.select(sa.func.count())
            .select_from(Notification)
            .where(
                Notification.status == SENDING,
                Notification.next_attempt_at < utcnow() - timedelta(minutes=10),
            )
        )
        or 0
    )
    return report
