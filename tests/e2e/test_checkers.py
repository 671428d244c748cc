"""Every page of the demo county through axe-core, and the public pages through the Nu HTML Checker.

The journeys run axe-core on each page they check (``Visit.problems``); these tests add
the pages the journeys do not reach, as the public, a teacher, a school admin and a
bureau supervisor see them.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from blueprints.complaints.models import Complaint, with_leadership
from blueprints.opendays.models import OpenDay
from blueprints.pledges.models import Pledge
from kaimen import tenancy
from kaimen.extensions import db
from kaimen.orgs import Organisation, Unit

from .conftest import DESKTOP, PHONE, SCHOOL, TOOLS_SKIP, VNU, login

pytestmark = pytest.mark.browser

BUREAU = "/b/jiayu/"


@pytest.fixture(scope="module")
def demo(live_app: Any) -> dict[str, int]:
    """Load the demo data of every plugin; return a pledge, a case and an open day."""
    result = live_app.test_cli_runner().invoke(args=["kaimen", "demo", "load"])
    assert result.exit_code == 0, result.output
    with live_app.app_context(), tenancy.system_scope():
        school = db.session.scalar(sa.select(Organisation).filter_by(slug="shiyan-xiaoxue"))
        assert school is not None
        pledge = db.session.scalar(sa.select(Pledge.id).where(Pledge.school_id == school.id)
                                   .order_by(Pledge.id))
        case = db.session.scalar(with_leadership(
            sa.select(Complaint.id).where(Complaint.school_id == school.id)
            .order_by(Complaint.id)))
        open_day = db.session.scalar(sa.select(OpenDay.id).where(OpenDay.school_id == school.id)
                                     .order_by(OpenDay.id))
        unit = db.session.scalar(sa.select(Unit.id).filter_by(slug="jiaoyanshi"))
        assert pledge is not None
        assert case is not None
        assert open_day is not None
        assert unit is not None
        db.session.remove()
    return {"pledge": pledge, "case": case, "open_day": open_day, "unit": unit}


def public_pages(ids: dict[str, int]) -> list[str]:
    pledges = f"{SCHOOL}pledges/"
    return ["/", "/login", "/track", SCHOOL, f"{SCHOOL}complaints/", pledges,
            f"{pledges}{ids['pledge']}", f"{pledges}{ids['pledge']}/history",
            f"{pledges}poster", f"{pledges}poster?size=a3", f"{BUREAU}pledges/",
            f"{SCHOOL}opendays/", f"{SCHOOL}opendays/{ids['open_day']}"]


STAFF_PAGES = {
    "sxx.teacher": ["{school}desk/", "{school}complaints/enter", "/account"],
    "sxx.admin": ["{school}desk/", "{school}admin/", "{school}admin/users",
                  "{school}complaints/cases", "{school}complaints/cases/{case}",
                  "{school}pledges/manage", "{school}pledges/new",
                  "{school}pledges/{pledge}/edit"],
    "supervisor": [BUREAU, f"{BUREAU}complaints/", f"{BUREAU}audit/",
                   f"{BUREAU}audit/?logins=all", f"{BUREAU}pledges/schools",
                   f"{BUREAU}pledges/manage", "{school}desk/"],
    "bureau.admin": [f"{BUREAU}admin/units", BUREAU + "admin/units/{unit}/delete"],
}


def test_the_accessibility_check_finds_what_it_should(browse):
    visit = browse(DESKTOP)
    visit.goto(SCHOOL)  # a real page, under its Content-Security-Policy
    assert visit.accessibility() == []
    visit.page.evaluate("""() => {
      const main = document.querySelector("main");
      main.appendChild(document.createElement("img"));
      main.appendChild(document.createElement("input"));
    }""")
    found = " ".join(visit.accessibility())
    assert "axe image-alt (critical)" in found
    assert "axe label (critical)" in found


@pytest.mark.parametrize("options", [PHONE, DESKTOP], ids=["phone", "desktop"])
def test_public_pages_have_no_serious_accessibility_violations(demo, browse, options):
    visit = browse(options)
    found = {}
    for path in public_pages(demo):
        visit.goto(path)
        found[path] = visit.accessibility()
    assert {path: v for path, v in found.items() if v} == {}


@pytest.mark.parametrize("username", list(STAFF_PAGES))
def test_staff_pages_have_no_serious_accessibility_violations(demo, browse, username):
    visit = browse(DESKTOP)
    login(visit, username)
    found = {}
    for pattern in STAFF_PAGES[username]:
        path = pattern.format(school=SCHOOL, **demo)
        visit.goto(path)
        found[path] = visit.accessibility()
    assert {path: v for path, v in found.items() if v} == {}


def test_public_pages_are_valid_html(demo, live_server, tmp_path: Path):
    java = shutil.which("java")
    if java is None or not VNU.is_file():
        pytest.skip(TOOLS_SKIP.format(tool="The Nu HTML Checker (vnu.jar) or Java",
                                      java=" and Java: apt-get install default-jre-headless"))
    names = {}
    for number, path in enumerate(public_pages(demo)):
        request = urllib.request.Request(live_server + path,
                                         headers={"Accept-Language": "zh-CN"})
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 - loopback
            assert response.status == 200, path
            page = tmp_path / f"page{number}.html"
            page.write_bytes(response.read())
        names[page.name] = path
    checked = subprocess.run(
        [java, "-jar", str(VNU), "--errors-only", "--format", "json", "--exit-zero-always",
         *sorted(str(p) for p in tmp_path.glob("page*.html"))],
        capture_output=True, text=True, timeout=300, check=True,
    )
    messages = json.loads(checked.stderr or checked.stdout)["messages"]
    errors = [f"{names[Path(m['url']).name]} line {m.get('lastLine')}: {m['message']}"
              for m in messages if m.get("type") == "error"]
    assert errors == []
