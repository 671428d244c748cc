"""School years and classes on a phone: the bureau adds a year, a school sets up its classes."""

from __future__ import annotations

from pathlib import Path

import pytest

from .conftest import DESKTOP, PHONE, login

pytestmark = pytest.mark.browser

SAMPLE = Path(__file__).resolve().parents[2] / "tenants" / "classes-sample.csv"
NARROW = {**PHONE, "viewport": {"width": 360, "height": 740}}


def fits(page) -> None:
    widths = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    assert widths[0] <= widths[1], f"horizontal scroll at 360 px: {widths}"


def test_bureau_admin_adds_the_next_school_year(browse, tmp_path):
    admin = browse(DESKTOP)
    page = admin.page
    login(admin, "bureau.admin")
    admin.goto("/b/jiayu/")
    page.get_by_role("link", name="学年学期").click()
    page.wait_for_load_state()
    row = page.locator("tr", has_text="2026-2027")
    assert row.get_by_text("当前").is_visible()
    assert "第一学期" in row.inner_text()
    page.get_by_label("开始日期").fill("2027-09-01")
    page.get_by_label("结束日期").fill("2028-08-31")
    page.get_by_label("第一学期开始").fill("2027-09-01")
    page.get_by_label("第一学期结束").fill("2028-01-28")
    page.get_by_role("button", name="添加学年").click()
    page.wait_for_load_state()
    assert page.get_by_text("学年2027-2028已保存。").is_visible()
    assert page.locator("tr", has_text="2027-2028").is_visible()
    page.screenshot(path=str(tmp_path / "school-years.png"), full_page=True)
    assert admin.problems() == []


def test_school_admin_sets_up_classes_on_a_phone(browse, tmp_path):
    admin = browse(NARROW)
    page = admin.page
    login(admin, "sxx.admin")
    admin.goto("/s/shiyan-xiaoxue/")
    page.get_by_role("link", name="班级", exact=True).click()
    page.wait_for_load_state()
    assert page.get_by_role("heading", name="班级").is_visible()
    assert page.get_by_text("一年级1班").is_visible()
    fits(page)
    page.screenshot(path=str(tmp_path / "classes.png"), full_page=True)

    page.get_by_role("link", name="新建班级").click()
    page.wait_for_load_state()
    page.get_by_label("年级").select_option(label="二年级")
    page.get_by_label("班级", exact=True).fill("1班")
    page.get_by_label("班主任").select_option(label="吴芳")
    page.get_by_role("group", name="任课教师").get_by_label("郑海燕").check()
    fits(page)
    page.screenshot(path=str(tmp_path / "class-form.png"), full_page=True)
    page.get_by_role("button", name="保存").click()
    page.wait_for_load_state()
    assert page.get_by_text("班级二年级1班已保存。").is_visible()
    row = page.locator("tr", has_text="二年级1班")
    assert "吴芳" in row.inner_text()
    assert "郑海燕" in row.inner_text()

    page.get_by_role("link", name="从 Excel 或 CSV 导入").click()
    page.wait_for_load_state()
    page.get_by_label("Excel 或 CSV 文件").set_input_files(str(SAMPLE))
    page.get_by_role("button", name="导入", exact=True).click()
    page.wait_for_load_state()
    assert page.get_by_text("新增 1 个班级，修改 0 个，3 个与文件一致").is_visible()
    assert page.get_by_text("四年级1班").is_visible()
    fits(page)
    page.screenshot(path=str(tmp_path / "classes-after-import.png"), full_page=True)
    assert admin.problems() == []
