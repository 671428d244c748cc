"""The bureau's own rectification window on a 360-pixel phone, in Chinese, with the demo plan:
12 problems in the ten areas, 8 items basically done and 4 in progress."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa

from blueprints.plans import demo
from kaimen import orgs, tenancy
from kaimen.auth.models import User
from kaimen.extensions import db

from .conftest import PHONE, login

pytestmark = pytest.mark.browser

NARROW = {**PHONE, "viewport": {"width": 360, "height": 740}}


def fits(page: Any) -> None:
    widths = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    assert widths[0] <= widths[1], f"horizontal scroll at 360 px: {widths}"


@pytest.fixture(scope="module")
def demo_plans(live_app: Any) -> None:
    """The plans' demo data of the demo county: its campaign, its own plan, its schools'."""
    with live_app.app_context(), tenancy.system_scope():
        bureau = orgs.find("jiayu", orgs.BUREAU)
        users = {u.username: u for u in db.session.scalars(sa.select(User))}
        demo.load(bureau, orgs.schools_under(bureau), users)
        db.session.commit()
        db.session.remove()


def test_the_bureaus_window_on_a_small_phone(demo_plans, browse):
    visitor = browse(NARROW)
    page = visitor.page
    visitor.goto("/b/jiayu/plans/window")
    assert page.locator("h1").inner_text() == "整改之窗"
    main = page.locator("main")
    assert "嘉鱼县教育局" in main.inner_text()
    assert main.locator("h3").count() == 12
    statuses = main.locator("ul.plan-window .badge").all_inner_texts()
    assert statuses.count("基本完成") == 8
    assert statuses.count("正在推进") == 4
    fits(page)
    assert visitor.problems() == []
    # The bureau's staff find it, and its line apart from the schools', on their own page.
    admin = browse(NARROW)
    login(admin, "bureau.admin")
    admin.goto("/b/jiayu/plans/")
    own = admin.page.locator("main section.card", has_text="教育局本级整改方案")
    assert "12 项：基本完成 8 项，正在推进 4 项" in own.inner_text()
    fits(admin.page)
    assert admin.problems() == []
