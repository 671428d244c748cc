"""The opinion box end to end: a parent on a phone, the school, the parent again, the bureau."""

from __future__ import annotations

import os
import re
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from babel.dates import format_date

from .conftest import DESKTOP, PHONE, RECEIPT, SCHOOL, login

pytestmark = pytest.mark.browser

BOX = SCHOOL + "complaints/"
SUBJECT = "课后服务收费不透明"
DESCRIPTION = "三年级二班本学期课后服务每人另收两百元资料费，没有公示收费依据，也没有开具收据。"
ANSWER = "经核查，资料费未经审批，学校已全额退还并在家长群公示课后服务收费标准。"
FACTS = "三年级二班班主任擅自收取资料费共计八千元，未报学校审批。"
ACTION = "已责令全额退还所收费用，并重新公示课后服务收费项目。"
CORRECTION = "对班主任进行诫勉谈话，取消本年度评优资格。"
URGE_NOTE = "家长对处理结果不满意，请学校三个工作日内重新核查并当面答复家长。"


def assert_clean(*visits):
    """No console error, uncaught error or CSP violation on the page each visit shows."""
    for visit in visits:
        assert visit.problems() == [], visit.page.url


def flash_text(page, kind):
    return page.locator(f".flash-{kind}").inner_text()


def status_badges(page):
    return page.locator("main p .badge").all_inner_texts()


def test_parent_school_and_bureau_follow_one_opinion_to_the_end(browse):
    parent = browse(PHONE)
    admin = browse(DESKTOP)
    supervisor = browse(DESKTOP)

    # A parent on a phone finds the box from the school's page and writes anonymously.
    page = parent.page
    parent.goto(SCHOOL)
    page.locator(f"main a.button[href='{BOX}']").click()
    page.wait_for_url(parent.base_url + BOX)
    assert_clean(parent)
    assert page.locator("input[name=identity][value=anonymous]").is_checked()
    page.locator("#category").select_option("arbitrary_fees")
    page.locator("#subject").fill(SUBJECT)
    page.locator("#description").fill(DESCRIPTION)
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    page.locator("main form button[type=submit]").click()
    page.wait_for_load_state()
    code = page.locator(".receipt-code").inner_text().strip()
    assert RECEIPT.match(code), code
    proof = page.locator("section.proof").inner_text()
    assert SUBJECT in proof
    assert "匿名" in proof
    assert_clean(parent)

    # The school administrator finds it in the list and accepts it with a person in charge.
    page = admin.page
    login(admin, "sxx.admin")
    page.locator(f"nav a[href='{BOX}cases']").click()
    page.wait_for_url(admin.base_url + BOX + "cases")
    row = page.locator("main table tbody tr").filter(has_text=SUBJECT)
    assert row.count() == 1
    assert row.locator(".badge.status-received").count() == 1
    row.get_by_role("link", name=SUBJECT).click()
    page.wait_for_url(re.compile(re.escape(admin.base_url + BOX) + r"cases/\d+$"))
    case_path = page.url.removeprefix(admin.base_url)
    assert_clean(admin)
    accept = page.locator("form[action$='/accept']")
    owners = accept.locator("#owner option").all_inner_texts()
    assert owners[0] == "请选择责任人"  # no default person in charge
    assert not any("县" in owner for owner in owners)  # the school's own staff only
    accept.locator("#owner").select_option(label="郑海燕（教师）")
    accept.locator("#note").fill("已收到您的反映，学校将认真核查。")
    accept.locator("button[type=submit]").click()
    page.wait_for_url(admin.base_url + case_path)
    assert flash_text(page, "info") == "已受理，责任人：郑海燕。"
    assert "已受理" in status_badges(page)
    assert page.locator("dl.contact dt:text-is('责任人') + dd").inner_text() == "郑海燕"

    page.locator("form[action$='/advance/verifying'] button").click()
    page.wait_for_url(admin.base_url + case_path)
    assert "核实中" in status_badges(page)
    page.locator("form[action$='/advance/handling'] button").click()
    page.wait_for_url(admin.base_url + case_path)
    assert "办理中" in status_badges(page)

    page.locator("form[action$='/answer'] #answer").fill(ANSWER)
    page.locator("form[action$='/answer'] button").click()
    page.wait_for_url(admin.base_url + case_path)
    assert "已答复" in status_badges(page)
    assert_clean(admin)

    # Closing before the four not-let-go conditions are met is refused; the case stays open.
    missing = page.locator("ul.missing li").all_inner_texts()
    assert "事实查清：核查结论和核实的事实" in missing
    admin.expect_failure(case_path + "/close")
    with page.expect_response(lambda r: r.url.endswith(case_path + "/close")) as closing:
        page.locator("form[action$='/close'] button").click()
    assert closing.value.status == 409
    page.wait_for_load_state()
    refusal = flash_text(page, "error")
    assert refusal.startswith("该意见尚不能办结，还缺少：")
    assert "事实查清" in refusal
    assert "已答复" in status_badges(page)
    assert "已办结" not in status_badges(page)
    assert page.locator("form[action$='/close']").count() == 1

    findings = page.locator("form[action$='/findings']")
    findings.locator("#finding").select_option("substantiated")
    findings.locator("#verified_facts").fill(FACTS)
    findings.locator("#action_taken").fill(ACTION)
    findings.locator("#correction").fill(CORRECTION)
    findings.locator("button[type=submit]").click()
    page.wait_for_url(admin.base_url + case_path)
    assert flash_text(page, "info") == "核查结论已保存。"
    assert page.locator("ul.missing").count() == 0
    page.locator("form[action$='/close'] button").click()
    page.wait_for_url(admin.base_url + case_path)
    assert "已办结" in status_badges(page)
    assert page.locator("form[action$='/close']").count() == 0
    assert_clean(admin)

    # The parent follows up with the receipt code and is not satisfied.
    page = parent.page
    parent.goto("/track")
    page.locator("#code").fill(code.lower().replace("-", " "))
    page.locator("main form button[type=submit]").click()
    page.wait_for_load_state()
    assert page.get_by_role("heading", level=1).inner_text() == SUBJECT
    assert page.locator("main .card .prewrap").first.inner_text() == ANSWER
    timeline = page.locator("ol.timeline").inner_text()
    for step in ("已受理，已指定首问责任人", "开始核实", "开始办理", "已答复", "已办结"):
        assert step in timeline, step
    assert "已收到您的反映，学校将认真核查。" in timeline  # the note sent with the acceptance
    assert FACTS not in page.locator("main").inner_text()  # findings stay internal
    assert "郑海燕" not in page.locator("main").inner_text()  # so does the person in charge
    assert_clean(parent)
    page.locator("input[name=verdict][value=no]").check()
    page.locator("#comment").fill("退费只退了一半，收费标准也没有公示。")
    page.locator("form:has(input[name=action][value=feedback]) button").click()
    page.wait_for_load_state()
    assert page.locator(".flash-info").is_visible()
    assert flash_text(page, "info") == "您表示不满意，已报告教育局，该意见重新办理。"
    assert page.locator("dl.contact .badge").inner_text() == "办理中"
    assert "反映人不满意，重新办理" in page.locator("ol.timeline").inner_text()
    assert page.locator("input[name=verdict]").count() == 0  # a verdict is given once
    assert_clean(parent)

    # The bureau's supervisor sees it reopened and flagged, and urges it with a new deadline.
    page = supervisor.page
    login(supervisor, "supervisor")
    page.locator("nav a[href='/b/jiayu/complaints/']").click()
    page.wait_for_url(supervisor.base_url + "/b/jiayu/complaints/")
    assert page.locator("details.filters-fold").get_attribute("open") is None  # folded
    page.locator("details.filters-fold > summary").click()
    page.locator("form.filters input[name=flagged]").check()
    page.locator("form.filters button[type=submit]").click()
    page.wait_for_url(re.compile(r"flagged=1"))
    assert page.locator("details.filters-fold").get_attribute("open") == ""  # a filter is on
    rows = page.locator("main table tbody tr")
    assert rows.count() == 1
    assert "嘉鱼县实验小学" in rows.inner_text()
    assert rows.locator(".badge.status-handling").inner_text() == "办理中"
    assert rows.locator(".badge.overdue").inner_text() == "不满意"
    assert_clean(supervisor)
    rows.get_by_role("link", name=SUBJECT).click()
    page.wait_for_url(supervisor.base_url + case_path)
    assert "不满意" in status_badges(page)
    assert page.locator("dl.contact dt:text-is('反映人评价') + dd").inner_text() == "不满意"
    new_due = datetime.now(ZoneInfo("Asia/Shanghai")).date() + timedelta(days=7)
    urge = page.locator("form[action$='/urge']")
    urge.locator("#note").fill(URGE_NOTE)
    urge.locator("#new_due").fill(new_due.isoformat())
    urge.locator("button[type=submit]").click()
    page.wait_for_url(supervisor.base_url + case_path)
    long_due = format_date(new_due, "long", locale="zh_Hans")
    assert flash_text(page, "info") == f"已督办，新的答复期限为 {long_due}。"
    assert "已督办" in status_badges(page)
    shown_due = format_date(new_due, "medium", locale="zh_Hans")
    assert page.locator("dl.contact dt:text-is('答复期限') + dd").inner_text() == shown_due
    urged = page.locator("ol.timeline li").filter(has_text="教育局督办")
    assert urged.count() == 1
    assert URGE_NOTE in urged.inner_text()
    assert f"新期限 {shown_due}" in urged.inner_text()
    assert "刘晓红" in urged.inner_text()
    assert_clean(supervisor)

    # The school sees the urge on its case too.
    admin.goto(case_path)
    assert "已督办" in status_badges(admin.page)
    assert URGE_NOTE in admin.page.locator("ol.timeline").inner_text()
    assert_clean(admin)


SMALL_PHONE = PHONE | {"viewport": {"width": 360, "height": 740}, "accept_downloads": True}


def no_horizontal_scroll(page):
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


def snap(page, name):
    """Keep a screenshot for a reviewer when KAIMEN_SCREENSHOTS names a folder."""
    folder = os.environ.get("KAIMEN_SCREENSHOTS")
    if folder:
        page.screenshot(path=str(Path(folder) / f"{name}.png"), full_page=True)


def test_parent_on_a_small_phone_is_never_silently_cut_or_dropped(browse, tmp_path):
    parent = browse(SMALL_PHONE)
    page = parent.page
    parent.goto(BOX)
    assert "办理时限" in page.locator("main .time-limits").inner_text()
    assert page.locator("#description").get_attribute("maxlength") is None
    page.locator("#category").select_option("paid_tutoring")
    page.locator("#subject").fill("老师周末有偿补课")
    page.locator("#description").fill(DESCRIPTION)
    assert page.locator("#description-count").inner_text() == f"{len(DESCRIPTION)} / 5000"
    # anonymous, yet a phone number typed: the form asks which was meant, keeping it
    page.locator("#contact_phone").fill("13800138000")
    snap(page, "1-form")
    page.locator("main form button[type=submit]").click()
    page.wait_for_load_state()
    assert "您选择了匿名提交，但填写了联系方式" in page.locator(".error-summary").inner_text()
    assert page.locator("#contact_phone").input_value() == "13800138000"
    assert page.locator("#description").input_value() == DESCRIPTION
    assert no_horizontal_scroll(page)
    snap(page, "2-which-was-meant")
    assert_clean(parent)
    page.locator("input[name=identity][value=named]").check()
    page.locator("#contact_name").fill("李女士")
    page.locator("main form button[type=submit]").click()
    page.wait_for_load_state()
    code = page.locator(".receipt-code").inner_text().strip()
    assert RECEIPT.match(code)
    assert no_horizontal_scroll(page)
    groups = page.locator(".receipt-code .code-group")
    heights = {round(groups.nth(i).bounding_box()["height"]) for i in range(groups.count())}
    assert len(heights) == 1  # no group is broken across lines
    assert DESCRIPTION in page.locator("section.proof").inner_text()
    assert "截图保存" in page.locator("main").inner_text()
    snap(page, "3-receipt")
    with page.expect_download() as download_info:
        page.locator("form.proof-download button").click()
    download = download_info.value
    assert download.suggested_filename.endswith(".pdf")
    assert code not in download.url
    saved = tmp_path / "proof.pdf"
    download.save_as(saved)
    assert saved.read_bytes().startswith(b"%PDF")
    assert_clean(parent)
