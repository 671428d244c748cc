"""The open-day calendar end to end, on 360-pixel phones.

The school schedules an open day for two people; a parent registers both places; a
second parent finds it full and joins the waitlist; the first cancels with the code;
the outbox worker mails the second, who is now confirmed (a real SMTP server on
loopback receives the mail); the administrator checks the second parent in by code.
"""

from __future__ import annotations

import re
import socket
import threading
from collections.abc import Iterator
from datetime import timedelta
from email import message_from_bytes
from email.policy import default as default_policy
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from conftest import make_app
from werkzeug.serving import make_server

from kaimen import notify, provisioning, tenancy
from kaimen.extensions import db
from kaimen.orgs import SCHOOL as SCHOOL_KIND
from kaimen.orgs import Organisation
from kaimen.timeutil import local_date

from .conftest import DEMO_PASSWORD, PHONE, RECEIPT, ROOT, SCHOOL, login

pytestmark = pytest.mark.browser

OPENDAYS = SCHOOL + "opendays/"
PHONE_360 = PHONE | {"viewport": {"width": 360, "height": 780}}
TITLE = "科学实验开放日（端到端）"
SHOTS = Path(__file__).resolve().parents[2] / "instance" / "screenshots" / "opendays"


class Inbox:
    """An aiosmtpd handler on a loopback port, keeping every message it accepts."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.messages: list[Any] = []
        self.lock = threading.Lock()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        with self.lock:
            self.messages.append(message_from_bytes(envelope.original_content,
                                                    policy=default_policy))
        return "250 Message accepted for delivery"


@pytest.fixture(scope="module")
def inbox() -> Iterator[Inbox]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    handler = Inbox(port)
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield handler
    finally:
        controller.stop()


@pytest.fixture(scope="module")
def served(fresh_database: Any, inbox: Inbox) -> Iterator[tuple[str, Any]]:
    """The demo county behind a CSRF-protected server that mails through the loopback inbox."""
    app = make_app(fresh_database.url("sqlite"), WTF_CSRF_ENABLED=True, MAIL_BACKEND="smtp",
                   SMTP_HOST="127.0.0.1", SMTP_PORT=inbox.port,
                   MAIL_SENDER="kaimen@jiayu.example.cn")
    with app.app_context():
        db.create_all()
        with tenancy.system_scope():
            provisioning.load(ROOT / "tenants" / "jiayu.toml", demo_password=DEMO_PASSWORD)
        db.session.commit()
        db.session.remove()
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}", app
    finally:
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()
        with app.app_context():
            db.engine.dispose()


@pytest.fixture(scope="module")
def live_server(served: tuple[str, Any]) -> str:
    return served[0]


def deliver_outbox(app: Any) -> notify.DeliveryReport:
    """Run what ``flask kaimen notify`` runs: deliver the outbox."""
    with app.app_context(), tenancy.system_scope():
        try:
            return notify.deliver()
        finally:
            db.session.remove()


def school_today(app: Any) -> Any:
    with app.app_context(), tenancy.system_scope():
        school = db.session.scalar(
            db.select(Organisation).where(Organisation.slug == "shiyan-xiaoxue",
                                          Organisation.kind == SCHOOL_KIND))
        today = local_date(school)
        db.session.remove()
        return today


def fits_the_phone(visit: Any) -> None:
    assert visit.page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"), (
        visit.page.url)
    assert visit.problems() == [], visit.page.url


def shoot(visit: Any, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    visit.page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def register(parent: Any, event_path: str, name: str, phone: str, attendees: str,
             email: str = "") -> str:
    page = parent.page
    parent.goto(OPENDAYS)
    page.get_by_role("link", name=TITLE).first.click()
    page.wait_for_url(parent.base_url + event_path)
    page.locator("#name").fill(name)
    page.locator("#phone").fill(phone)
    page.locator("#email").fill(email)
    page.locator("#child_class").fill("四年级2班")
    page.locator("#attendees").fill(attendees)
    fits_the_phone(parent)
    page.locator("main form button[type=submit]").click()
    page.wait_for_load_state()
    code = page.locator(".od-code").inner_text().strip()
    assert RECEIPT.match(code), code
    fits_the_phone(parent)
    return code


def test_a_full_open_day_waitlists_promotes_notifies_and_checks_in(browse, served, inbox):
    base, app = served
    admin, first, second = browse(PHONE_360), browse(PHONE_360), browse(PHONE_360)
    day = school_today(app) + timedelta(days=12)

    # The school administrator schedules an open day for two people, on her phone.
    login(admin, "sxx.admin")
    page = admin.page
    admin.goto(OPENDAYS + "new")
    page.locator("#kind").select_option("open_day")
    page.locator("#title").fill(TITLE)
    page.locator("#place").fill("科学实验室")
    page.locator("#starts_at").fill(f"{day.isoformat()}T08:30")
    page.locator("#ends_at").fill(f"{day.isoformat()}T11:00")
    page.get_by_label("三年级", exact=True).check()  # from the school's class list
    page.locator("#capacity").fill("2")
    page.locator("#max_attendees").fill("2")
    fits_the_phone(admin)
    page.locator("main form button[type=submit]").first.click()
    page.wait_for_url(re.compile(re.escape(base + OPENDAYS) + r"\d+$"))
    assert page.locator(".flash-info").inner_text() == "活动已发布。"
    event_path = page.url.removeprefix(base)

    # The first parent registers both places and gets a code.
    code_first = register(first, event_path, "王丽", "13807150011", "2")
    assert first.page.locator(".od-status").inner_text() == "报名成功，您的名额已确认。"
    shoot(first, "1-registered")

    # The event is full: the second parent joins the waitlist.
    second.goto(event_path)
    assert second.page.locator(".badge.overdue").inner_text() == "名额已满：新报名将进入候补名单"
    code_second = register(second, event_path, "陈建国", "13907150022", "1",
                           email="chen.jianguo@example.cn")
    assert "您已进入候补名单" in second.page.locator(".od-status").inner_text()
    shoot(second, "2-waitlisted")

    # The first parent cancels with the code on the follow-up page.
    page = first.page
    first.goto("/track")
    page.locator("#code").fill(code_first.lower())
    page.locator("main form button[type=submit]").click()
    page.wait_for_load_state()
    assert "已确认" in page.locator(".od-status").inner_text()
    page.get_by_role("button", name="取消我的报名").click()
    page.wait_for_load_state()
    assert page.locator(".flash-info").inner_text() == "您的报名已取消，感谢您告知学校。"
    assert "家长已取消" in page.locator(".od-status").inner_text()
    fits_the_phone(first)
    shoot(first, "3-cancelled")

    # The outbox worker runs: the second parent is told by mail that a place is hers now.
    report = deliver_outbox(app)
    assert report.failed == 0
    mails = [m for m in inbox.messages if m["To"] == "chen.jianguo@example.cn"]
    assert len(mails) == 1
    assert mails[0]["Subject"] == f"递补成功：{TITLE}"
    assert "已为您递补" in mails[0].get_content()

    page = second.page
    second.goto("/track")
    page.locator("#code").fill(code_second)
    page.locator("main form button[type=submit]").click()
    page.wait_for_load_state()
    assert "已确认" in page.locator(".od-status").inner_text()
    fits_the_phone(second)
    shoot(second, "4-promoted")

    # At the door, the administrator checks the second parent in by code, on her phone.
    page = admin.page
    admin.goto(event_path + "/check-in")
    page.locator("#code").fill(code_second)
    fits_the_phone(admin)
    page.locator("main form button[type=submit]").click()
    page.wait_for_url(base + event_path + "/check-in")
    assert page.locator(".flash-info").inner_text() == "陈建国 已签到（1 人）。"
    assert "100%" in page.locator(".figures").inner_text()
    fits_the_phone(admin)
    shoot(admin, "5-checked-in")
    admin.goto(event_path + "/registrations")
    assert page.locator(".od-registration .badge.ok").count() == 1
    fits_the_phone(admin)
    shoot(admin, "6-registrations")

    # The calendar and the school's page show the event.
    first.goto(OPENDAYS)
    fits_the_phone(first)
    shoot(first, "7-calendar")
    first.goto(SCHOOL)
    assert first.page.get_by_role("link", name=TITLE).count() == 1
