"""The home-visit book at 360 px: a teacher logs two visits, the school prints, the bureau counts.

A school administrator imports the sample roster; a class teacher logs a phone
visit and an in-person visit on a phone and sees the class's coverage rise; the
administrator sees both visits and prints the class book as PDF pages; the bureau
sees the school's rate and no name.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from .conftest import DESKTOP, PHONE, login

pytestmark = pytest.mark.browser

SAMPLE = Path(__file__).resolve().parents[2] / "tenants" / "roster-sample.csv"
NARROW = {**PHONE, "viewport": {"width": 360, "height": 740}}
BOOK = "/s/shiyan-xiaoxue/homevisits"
NAMES = ["林小禾", "周一鸣", "吴可馨", "138 0000 0101", "X2026001"]


def fits(page) -> None:
    widths = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    assert widths[0] <= widths[1], f"horizontal scroll at 360 px: {widths}"


def pdf_pages(pdf: bytes) -> list[tuple[float, float]]:
    boxes = re.findall(rb"/MediaBox\s*\[\s*0\s+0\s+([\d.]+)\s+([\d.]+)\s*\]", pdf)
    return [(float(w), float(h)) for w, h in boxes]


def log_visit(page, method: str, topic: str, summary: str) -> None:
    page.get_by_role("group", name="家访方式").get_by_label(method, exact=True).check()
    page.get_by_role("group", name="家访内容").get_by_label(topic).check()
    page.get_by_label("家访情况").fill(summary)
    fits(page)
    page.get_by_role("button", name="保存").click()
    page.wait_for_load_state()
    assert page.get_by_text("家访已记录。").is_visible()


def coverage_of_first_class(page) -> str:
    section = page.locator("section.card", has=page.get_by_role("heading", name="一年级1班"))
    return section.locator("p.coverage").get_attribute("data-coverage")


def test_teacher_logs_visits_school_prints_the_book_bureau_sees_no_names(browse, tmp_path):
    admin = browse(NARROW)
    login(admin, "sxx.admin")
    admin.goto(f"{BOOK}/roster")
    admin.page.get_by_label("Excel 或 CSV 文件").set_input_files(str(SAMPLE))
    admin.page.get_by_role("button", name="导入", exact=True).click()
    admin.page.wait_for_load_state()
    assert admin.page.get_by_text("学生名单已导入：新增 7 人").is_visible()

    teacher = browse(NARROW)
    page = teacher.page
    login(teacher, "sxx.teacher")
    teacher.goto("/s/shiyan-xiaoxue/")
    page.get_by_role("link", name="我的班级").first.click()
    page.wait_for_load_state()
    assert coverage_of_first_class(page) == "0/3"
    fits(page)

    # A phone call, found by the search.
    page.get_by_role("link", name="记录家访").click()
    page.wait_for_load_state()
    page.get_by_label("学生姓名或学号").fill("林小禾")
    page.get_by_role("button", name="查找").click()
    page.wait_for_load_state()
    page.get_by_role("link", name="林小禾").click()
    page.wait_for_load_state()
    log_visit(page, "电话", "学习情况", "电话沟通作业情况。")
    page.screenshot(path=str(tmp_path / "visit.png"), full_page=True)

    # A visit in person, from the class list, where the unreached come first.
    page.get_by_role("link", name="返回我的班级").click()
    page.wait_for_load_state()
    assert coverage_of_first_class(page) == "1/3"
    page.get_by_role("link", name="周一鸣", exact=True).click()
    page.wait_for_load_state()
    log_visit(page, "上门", "家庭困难", "上门了解家庭情况。")
    page.get_by_role("link", name="返回我的班级").click()
    page.wait_for_load_state()
    assert coverage_of_first_class(page) == "2/3"
    fits(page)
    page.screenshot(path=str(tmp_path / "my-classes.png"), full_page=True)
    assert teacher.problems() == []

    # The school administrator sees both visits and prints the class book.
    admin.goto(f"{BOOK}/coverage")
    assert "29%" in admin.page.locator("tfoot").inner_text()  # 2 of 7 students
    fits(admin.page)
    admin.page.get_by_role("link", name="全部家访记录").click()
    admin.page.wait_for_load_state()
    listed = admin.page.locator("ul.visits").inner_text()
    assert "林小禾" in listed
    assert "周一鸣" in listed
    admin.goto(f"{BOOK}/coverage")
    admin.page.get_by_role("link", name="班级家访记载簿 一年级1班").click()
    admin.page.wait_for_load_state()
    assert admin.page.locator("section.book-student").count() == 3
    desktop = browse(DESKTOP)
    login(desktop, "sxx.admin")
    desktop.goto(admin.page.url.removeprefix(admin.base_url))
    pdf = desktop.page.pdf(prefer_css_page_size=True)
    pages = pdf_pages(pdf)
    assert pages, "no PDF pages"
    assert all(abs(w - 595.92) < 2 and abs(h - 842.88) < 2 for w, h in pages), pages
    (tmp_path / "book.pdf").write_bytes(pdf)
    assert admin.problems() == []

    # The bureau sees the school's rate and no name.
    bureau = browse(NARROW)
    login(bureau, "supervisor")
    bureau.goto("/b/jiayu/homevisits/")
    row = bureau.page.locator("tr", has_text="实验小学").first
    assert "29%" in row.inner_text()
    text = bureau.page.content()
    assert [name for name in NAMES if name in text] == []
    fits(bureau.page)
    assert bureau.problems() == []
