"""Notices reach parents through the outbox: a real SMTP server on loopback receives them."""

from __future__ import annotations

import socket
import threading
from email import message_from_bytes
from email.policy import default as default_policy
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from blueprints.opendays import services
from kaimen import notify
from kaimen.extensions import db

from .conftest import applicant


class Inbox:
    """An aiosmtpd handler keeping every message it accepts."""

    def __init__(self) -> None:
        self.messages: list[Any] = []
        self.lock = threading.Lock()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        with self.lock:
            self.messages.append(message_from_bytes(envelope.original_content,
                                                    policy=default_policy))
        return "250 Message accepted for delivery"


@pytest.fixture
def inbox(app: Any) -> Any:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    handler = Inbox()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    app.config.update({"MAIL_BACKEND": "smtp", "SMTP_HOST": "127.0.0.1", "SMTP_PORT": port,
                       "MAIL_SENDER": "kaimen@county-a.example.org"})
    try:
        yield handler
    finally:
        controller.stop()


def test_the_promoted_parent_gets_a_mail_in_the_bureaus_language(county, schedule, inbox):
    event = schedule(title="开放日：走进课堂", capacity=1, max_attendees=1)
    first, _ = services.register(event, applicant("王丽", phone="0715-6312345"))
    second, _ = services.register(event, applicant("陈建国", phone="0715-6312346",
                                                   email="chen@example.org"))
    db.session.commit()
    services.withdraw(first)
    db.session.commit()
    report = notify.deliver()
    assert (report.sent, report.failed) == (1, 0)
    [mail] = inbox.messages
    assert mail["To"] == "chen@example.org"
    assert mail["Subject"] == "递补成功：开放日：走进课堂"
    body = mail.get_content()
    assert "陈建国您好" in body
    assert "已为您递补" in body
