"""Dual-link, dual-package in the browser: assign, visit, read, filter and export."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from openpyxl import load_workbook

from .conftest import DESKTOP, PHONE, login

pytestmark = pytest.mark.browser

NARROW = {**PHONE, "viewport": {"width": 360, "height": 740}}
LAPTOP = {**DESKTOP, "viewport": {"width": 1366, "height": 768}}
# The grid lists leaders by username: chen, li, wang, zhang, zhao.
LEADERS = ["陈国栋", "李春华", "王建国", "张红梅", "赵文斌"]


def fits(page) -> None:
    widths = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    assert widths[0] <= widths[1], f"horizontal scroll at 360 px: {widths}"


def texts(locator) -> list[str]:
    return [text.strip() for text in locator.all_inner_texts()]


def test_assign_visit_read_filter_and_export(browse, tmp_path):
    # The bureau admin assigns a leader and a unit to every school on a laptop.
    admin = browse(LAPTOP)
    page = admin.page
    login(admin, "bureau.admin")
    admin.goto("/b/jiayu/")
    page.get_by_role("navigation", name="栏目").get_by_role("link", name="双联双包").click()
    page.get_by_role("link", name="双联双包分工").click()
    page.wait_for_load_state()
    assert "个问题" in page.locator("#coverage-status").inner_text()
    schools = texts(page.locator("table.grid tbody th"))
    assert len(schools) == 13
    headings = texts(page.locator("table.grid thead tr:nth-child(2) th"))
    assert [h.split("\n")[0] for h in headings[1:6]] == LEADERS
    units = [h.split("\n")[0] for h in headings[6:-1]]
    assert len(units) == 9
    for index, school in enumerate(schools):
        page.get_by_label(f"{LEADERS[index % 5]} 联系 {school}", exact=True).check()
        page.get_by_label(f"{units[index % 9]} 包保 {school}", exact=True).check()
    page.screenshot(path=str(tmp_path / "grid-filled.png"), full_page=True)
    page.get_by_role("button", name="保存分工").click()
    page.wait_for_load_state()
    assert page.get_by_text("分工已保存：变更 26 项。").is_visible()
    assert "已全覆盖" in page.locator("#coverage-status").inner_text()
    page.screenshot(path=str(tmp_path / "grid-green.png"), full_page=True)
    assert admin.problems() == []
    wang_schools = [s for i, s in enumerate(schools) if i % 5 == 2]

    # The leader lands on the umbrella view, opens their schools and logs a visit, on a phone.
    leader = browse(NARROW)
    page = leader.page
    login(leader, "leader.wang")
    page.get_by_role("link", name="我的学校").click()
    page.wait_for_load_state()
    shown = texts(page.locator(".liaison-schools h2"))
    assert shown == sorted(shown, key=wang_schools.index)
    assert set(shown) == set(wang_schools)
    fits(page)
    page.screenshot(path=str(tmp_path / "my-schools.png"), full_page=True)
    page.locator(".liaison-schools li").first.get_by_role("link", name="登记走访").click()
    page.wait_for_load_state()
    today = datetime.now(ZoneInfo("Asia/Shanghai")).date()
    page.get_by_label("走访日期").fill((today + timedelta(days=1)).isoformat())
    page.get_by_label("听取意见").check()
    page.get_by_label("走访对象", exact=True).fill("校长、家长代表")
    page.get_by_role("button", name="保存走访记录").click()
    page.wait_for_load_state()
    assert page.get_by_text("走访日期不能晚于今天。").first.is_visible()
    page.get_by_label("走访日期").fill((today - timedelta(days=1)).isoformat())
    page.get_by_label("检查").check()
    page.get_by_label("走访发现").fill("收费公示齐全；建议公开课后服务安排。")
    page.get_by_label("跟进事项 1", exact=True).fill("公开课后服务安排")
    page.get_by_label("跟进事项 1 的完成期限").fill((today + timedelta(days=14)).isoformat())
    fits(page)
    page.screenshot(path=str(tmp_path / "visit-form.png"), full_page=True)
    page.get_by_role("button", name="保存走访记录").click()
    page.wait_for_load_state()
    assert page.get_by_text("走访已登记。").is_visible()
    assert page.locator("main li", has_text="公开课后服务安排").is_visible()
    fits(page)
    page.screenshot(path=str(tmp_path / "visit.png"), full_page=True)
    assert leader.problems() == []

    # The school's admin reads who their linked leader is and the visit.
    leader.goto("/b/jiayu/liaison/mine")
    href = page.locator(".liaison-schools li h2 a").first.get_attribute("href")
    slug = href.split("/")[2]
    school_admin = browse(NARROW)
    page = school_admin.page
    login(school_admin, admin_of(slug))
    page.get_by_role("link", name="联系领导", exact=True).click()
    page.wait_for_load_state()
    people = page.locator("#liaison-people").inner_text()
    assert "王建国" in people
    page.locator("#liaison-visits li a").first.click()
    page.wait_for_load_state()
    assert page.get_by_text("收费公示齐全；建议公开课后服务安排。").is_visible()
    fits(page)
    page.screenshot(path=str(tmp_path / "school-reads-visit.png"), full_page=True)
    assert school_admin.problems() == []

    # The supervisor filters the dashboard by the leader and exports exactly what is shown.
    supervisor = browse(LAPTOP)
    page = supervisor.page
    login(supervisor, "supervisor")
    supervisor.goto("/b/jiayu/")
    page.get_by_label("联系领导").select_option(label="王建国")
    page.get_by_role("button", name="筛选").click()
    page.wait_for_load_state()
    rows = page.locator("#umbrella tbody tr")
    assert [name.split("\n")[0] for name in texts(rows.locator("th"))] == wang_schools
    shown_rows = [[cell.strip() for cell in row.locator("th, td").all_inner_texts()]
                  for row in rows.all()]
    page.screenshot(path=str(tmp_path / "dashboard-filtered.png"), full_page=True)
    with page.expect_download() as download:
        page.get_by_role("link", name="下载 Excel 表格").click()
    assert download.value.suggested_filename == "jiayu-overview.xlsx"
    download.value.save_as(tmp_path / "export.xlsx")
    sheet = load_workbook(tmp_path / "export.xlsx").active
    exported = [["" if value is None else str(value) for value in row]
                for row in sheet.iter_rows(min_row=2, values_only=True)]
    assert exported[:-1] == shown_rows
    totals = [cell.strip() for cell in page.locator("#umbrella tfoot td").all_inner_texts()]
    assert exported[-1][1:] == totals
    assert supervisor.problems() == []


def admin_of(slug: str) -> str:
    """Return the username of the demo school admin of ``slug`` (from the tenants file)."""
    import tomllib
    from pathlib import Path

    document = tomllib.loads((Path(__file__).resolve().parents[2] / "tenants" / "jiayu.toml")
                             .read_text(encoding="utf-8"))
    for user in document["user"]:
        for grant in user.get("grants", []):
            if grant.get("org") == slug and grant.get("role") == "school_admin":
                return user["username"]
    raise AssertionError(f"no school admin of {slug}")
