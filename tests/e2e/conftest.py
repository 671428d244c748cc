"""A live Kaimen server with the demo county, and headless Chromium driven by Playwright."""

from __future__ import annotations

import os
import re
import shutil
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from conftest import make_app
from werkzeug.serving import make_server

from kaimen import provisioning, tenancy
from kaimen.extensions import db

ROOT = Path(__file__).resolve().parents[2]
DEMO_PASSWORD = "e2e-demo-password-2026"
# The public address the app is configured with; posters and QR codes must use it, never
# the address the browser happened to reach the live server at.
PUBLIC_BASE_URL = "https://kaimen.example.org"
SCHOOL = "/s/shiyan-xiaoxue/"  # the demo school the journeys visit
RECEIPT = re.compile(r"^[0-9A-Z]{4}(?:-[0-9A-Z]{4}){4}$")  # a receipt code as shown
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
# axe-core and the Nu HTML Checker, installed by `make browser-tools` (npm) from vendor/package.json
VENDOR = ROOT / "tests" / "e2e" / "vendor" / "node_modules"
AXE = VENDOR / "axe-core" / "axe.min.js"
VNU = VENDOR / "vnu-jar" / "build" / "dist" / "vnu.jar"
TOOLS_SKIP = (
    "{tool} not found: browser tests skipped. Run `make browser-tools` (it needs npm{java})"
)
# Only these impacts fail a page; "moderate" and "minor" findings are for people to judge.
AXE_FAILING = ("serious", "critical")
AXE_RUN = """async (failing) => {
  const result = await axe.run(document, {resultTypes: ["violations"]});
  return result.violations.filter((v) => failing.includes(v.impact)).map((v) =>
    `axe ${v.id} (${v.impact}): ${v.help} at ` +
    v.nodes.slice(0, 5).map((n) => n.target.join(" ")).join(", "));
}"""
CHROMIUM_SKIP = (
    "Chromium not found: browser tests skipped. "
    "Install Debian's chromium (apt-get install chromium) or set KAIMEN_CHROMIUM"
)
PHONE = {"viewport": {"width": 390, "height": 844}, "locale": "zh-CN",
         "device_scale_factor": 2, "is_mobile": True, "has_touch": True}
DESKTOP = {"viewport": {"width": 1280, "height": 900}, "locale": "zh-CN"}
# Recorded in the page before any of its scripts run; CSP violations are also console errors.
CSP_LISTENER = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.__cspViolations.push(e.violatedDirective + " " + (e.blockedURI || "inline"));
});
"""


def chromium_path() -> str | None:
    candidate = os.environ.get("KAIMEN_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
    return candidate if candidate and os.access(candidate, os.X_OK) else None


@pytest.fixture(scope="module")
def live_app(fresh_database: Any) -> Any:
    """A CSRF-protected app on a fresh SQLite database with the demo county's tenants loaded."""
    app = make_app(fresh_database.url("sqlite"), WTF_CSRF_ENABLED=True,
                   BASE_URL=PUBLIC_BASE_URL)
    with app.app_context():
        db.create_all()
        with tenancy.system_scope():
            provisioning.load(ROOT / "tenants" / "jiayu.toml", demo_password=DEMO_PASSWORD)
        db.session.commit()
        db.session.remove()
    return app


@pytest.fixture(scope="module")
def live_server(live_app: Any) -> Iterator[str]:
    """Serve ``live_app`` on a free port of 127.0.0.1 for the module's tests."""
    app = live_app
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="kaimen-live-server", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()
        with app.app_context():
            db.engine.dispose()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    executable = chromium_path()
    if executable is None:
        pytest.skip(CHROMIUM_SKIP)
    if not AXE.is_file():
        pytest.skip(TOOLS_SKIP.format(tool="axe-core", java=""))
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS,
                                              headless=True)
        try:
            yield chromium
        finally:
            chromium.close()


@dataclass
class Visit:
    """A page in its own browser context, with the console errors it logged."""

    page: Any
    base_url: str
    console_errors: list[str] = field(default_factory=list)
    expected_failures: set[str] = field(default_factory=set)

    def expect_failure(self, path: str) -> None:
        """Tell the recorder that a 4xx answer from ``path`` is part of the journey."""
        self.expected_failures.add(self.base_url + path)

    def goto(self, path: str, status: int = 200) -> Any:
        url = self.base_url + path
        if status >= 400:
            self.expected_failures.add(url)
        response = self.page.goto(url)
        assert response is not None, path
        assert response.status == status, (path, response.status)
        return response

    def record(self, message: Any) -> None:
        if message.type != "error":
            return
        location = (message.location or {}).get("url", "")
        failed_load = message.text.startswith("Failed to load resource")
        if failed_load and location in self.expected_failures:
            return  # a 4xx page the journey asked for
        self.console_errors.append(f"{message.text} ({location})")

    def problems(self) -> list[str]:
        """Console errors, uncaught errors and CSP violations seen so far, and the page's
        serious or critical accessibility violations (axe-core)."""
        violations = self.page.evaluate("window.__cspViolations || []")
        return (self.console_errors + [f"CSP violation: {v}" for v in violations]
                + self.accessibility())

    def accessibility(self) -> list[str]:
        """Run axe-core in the page shown; return its serious and critical violations."""
        if not self.page.evaluate("typeof window.axe === 'object'"):
            # evaluated through the DevTools protocol, so the page's CSP does not apply
            self.page.evaluate(AXE.read_text(encoding="utf-8"))
        return list(self.page.evaluate(AXE_RUN, list(AXE_FAILING)))


def open_visit(browser: Any, live_server: str, options: dict[str, Any]) -> tuple[Any, Visit]:
    """Open a fresh browser context and page that record console errors and CSP violations."""
    context = browser.new_context(base_url=live_server, **options)
    context.add_init_script(CSP_LISTENER)
    page = context.new_page()
    visit = Visit(page=page, base_url=live_server)
    page.on("console", visit.record)
    page.on("pageerror", lambda error: visit.console_errors.append(f"page error: {error}"))
    return context, visit


@pytest.fixture
def phone(browser: Any, live_server: str) -> Iterator[Visit]:
    """A fresh phone-sized (390×844) Chinese-speaking browser."""
    context, visit = open_visit(browser, live_server, PHONE)
    try:
        yield visit
    finally:
        context.close()


@pytest.fixture
def browse(browser: Any, live_server: str) -> Iterator[Any]:
    """Open as many separate browsers (contexts) as a journey has people: ``browse(PHONE)``."""
    contexts: list[Any] = []

    def open_one(options: dict[str, Any] = DESKTOP) -> Visit:
        context, visit = open_visit(browser, live_server, options)
        contexts.append(context)
        return visit

    try:
        yield open_one
    finally:
        for context in contexts:
            context.close()


def login(visit: Visit, username: str, password: str = DEMO_PASSWORD) -> None:
    """Log ``username`` in through the login form and wait for the home page."""
    page = visit.page
    visit.goto("/login")
    page.locator("#username").fill(username)
    page.locator("#password").fill(password)
    page.locator("main form button[type=submit]").click()
    page.wait_for_url(lambda url: "/login" not in url)
    assert page.locator("header form[action='/logout'] button").is_visible(), username
