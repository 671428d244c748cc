"""Rectification end to end: two opinions become a plan; the bureau returns it, then approves
it; the window shows it; the ledger moves by hand, by urging, by sign-off and by a file."""

from __future__ import annotations

import io
import os
from datetime import timedelta
from pathlib import Path

import pytest
from openpyxl import load_workbook

from kaimen.timeutil import utcnow

from .conftest import DESKTOP, PHONE, SCHOOL, login

pytestmark = pytest.mark.browser

PLANS = SCHOOL + "plans/"
BUREAU = "/b/jiayu/plans/"
BOX = SCHOOL + "complaints/"
OPINIONS = ["班级代收资料费没有收据（整改端到端）", "校门口放学时段拥堵（整改端到端）"]
PDF = b"%PDF-1.4\n% rectification evidence\n%%EOF\n"
SHOTS = Path(os.environ.get("KAIMEN_SCREENSHOTS", "")) if os.environ.get(
    "KAIMEN_SCREENSHOTS") else None


def shot(visit, name):
    """Keep a screenshot when KAIMEN_SCREENSHOTS names a folder (for a person to look at)."""
    if SHOTS is not None:
        SHOTS.mkdir(parents=True, exist_ok=True)
        visit.page.screenshot(path=str(SHOTS / f"plans-{name}.png"), full_page=True)


def assert_clean(*visits):
    for visit in visits:
        assert visit.problems() == [], visit.page.url


def flash(visit):
    messages = visit.page.locator(".flash")
    assert messages.count() > 0, visit.page.url + "\n" + visit.page.inner_text("main")[:800]
    return messages.first.inner_text()


def file_opinion(parent, subject):
    page = parent.page
    parent.goto(BOX)
    page.locator("#category").select_option("arbitrary_fees")
    page.locator("#subject").fill(subject)
    page.locator("#description").fill(subject + "，希望学校整改。")
    page.locator("main form button[type=submit]").click()
    page.wait_for_load_state()
    assert page.locator(".receipt-code").count() == 1


def add_measure(admin, problem, action, person, deadline):
    page = admin.page
    page.locator(f"#problem-{problem} a.button").click()
    page.locator("#action").fill(action)
    page.locator("#target").fill("群众满意")
    page.locator("#responsible_person").fill(person)
    page.locator("#responsible_unit").fill("校长办公室")
    page.locator("#deadline").fill(deadline.isoformat())
    page.locator("main form button[type=submit]").first.click()
    page.wait_for_load_state()
    assert flash(admin) == "整改措施已添加。"


def item_ids(admin):
    links = admin.page.locator("main table tbody th a")
    return [int(href.rsplit("/", 1)[1]) for href in
            (links.nth(i).get_attribute("href") for i in range(links.count()))]


def test_a_plan_from_opinions_to_signed_off_items(browse):
    parent, admin, supervisor, visitor = browse(PHONE), browse(DESKTOP), browse(DESKTOP), \
        browse(PHONE)
    for subject in OPINIONS:
        file_opinion(parent, subject)

    # The bureau opens the year's campaign; it is in its rectify stage.
    login(supervisor, "supervisor")
    page = supervisor.page
    today = utcnow().date()
    supervisor.goto(BUREAU + "campaigns/new")
    page.locator("#title").fill("2026年度民主评议政风行风（端到端）")
    for field, days in [("starts_on", -40), ("mobilise_until", -30), ("inspect_until", -5),
                        ("rectify_until", 60), ("review_until", 90)]:
        page.locator(f"#{field}").fill((today + timedelta(days=days)).isoformat())
    page.locator("main form button[type=submit]").click()
    page.wait_for_url(supervisor.base_url + BUREAU)
    assert page.locator("ol.plan-stages li.current").inner_text().startswith("整改")
    assert_clean(supervisor)

    # The school admin drafts a plan answering the two opinions, and submits it.
    login(admin, "sxx.admin")
    page = admin.page
    admin.goto(PLANS + "manage")
    page.locator("main table tbody th a").first.click()
    page.wait_for_load_state()
    plan_path = page.url.removeprefix(admin.base_url)
    page.locator("#category").select_option("fees")
    page.locator("#description").fill("代收费用不公示、不开收据")
    values = [page.locator("#cases option", has_text=s).get_attribute("value") for s in OPINIONS]
    page.locator("#cases").select_option(values)
    page.locator("main form[action$='/problems'] button[type=submit]").click()
    page.wait_for_load_state()
    page.locator("#category").select_option("safety")
    page.locator("#description").fill("放学时段校门口秩序乱")
    page.locator("main form[action$='/problems'] button[type=submit]").click()
    page.wait_for_load_state()
    problems = [int(s.get_attribute("id").split("-")[1])
                for s in page.locator("section[id^=problem-]").all()]
    deadline = today + timedelta(days=30)
    add_measure(admin, problems[0], "公示全部收费项目", "王校长", deadline)
    add_measure(admin, problems[0], "退还资料费并开具收据", "李主任", deadline)
    add_measure(admin, problems[1], "设置护学岗", "张副校长", deadline)
    add_measure(admin, problems[1], "错峰放学", "张副校长", deadline)
    shot(admin, "draft")
    page.locator("main form[action$='/submit'] button").click()
    page.wait_for_load_state()
    assert flash(admin) == "整改方案已报送教育局审核。"
    assert_clean(admin)

    # The supervisor returns it with a comment on one measure.
    supervisor.goto(plan_path + "/review")
    page = supervisor.page
    measure_boxes = page.locator("textarea[name^=measure-]")
    refund = measure_boxes.nth(1).get_attribute("name").split("-")[1]
    measure_boxes.nth(1).fill("退费金额和时间要写清楚")
    page.locator("#comment").fill("请细化退费措施")
    page.locator("button[formaction$='/return']").click()
    page.wait_for_load_state()
    assert flash(supervisor) == "整改方案已退回学校。"

    # The admin reads the comment, fixes the measure and resubmits.
    admin.goto(plan_path)
    page = admin.page
    assert "退费金额和时间要写清楚" in page.locator(f"#measure-{refund}").inner_text()
    shot(admin, "returned")
    admin.goto(f"{PLANS}measures/{refund}/edit")
    page.locator("#action").fill("本周内退还每生200元资料费并开具收据")
    page.locator("main form button[type=submit]").first.click()
    page.wait_for_load_state()
    page.locator("main form[action$='/submit'] button").click()
    page.wait_for_load_state()
    assert flash(admin) == "整改方案已报送教育局审核。"

    # The supervisor sees the change and approves.
    supervisor.goto(plan_path + "/review")
    page = supervisor.page
    changes = page.locator("#changes").inner_text()
    assert "退还资料费并开具收据" in changes
    assert "本周内退还每生200元资料费并开具收据" in changes
    shot(supervisor, "diff")
    page.locator("button[formaction$='/approve']").click()
    page.wait_for_load_state()
    assert flash(supervisor) == "整改方案已审核通过并公示。"
    assert_clean(supervisor)

    # The plan is in the school's rectification window, without anyone's name.
    visitor.goto(PLANS)
    window = visitor.page.locator("main").inner_text()
    assert "设置护学岗" in window
    assert "意见箱中有 2 条意见反映此问题。" in window
    assert OPINIONS[0] not in window
    shot(visitor, "window")
    assert_clean(visitor)

    # The admin reports progress with evidence on one item of the second problem.
    admin.goto(PLANS + "ledger")
    ids = item_ids(admin)
    guard, staggered = ids[2], ids[3]
    admin.goto(f"{PLANS}items/{guard}")
    page = admin.page
    page.locator("#status").select_option("done")
    page.locator("#text").fill("每天两名教师在校门口值守")
    page.locator("#evidence").set_input_files(
        [{"name": "值守照片.pdf", "mimeType": "application/pdf", "buffer": PDF}])
    page.locator("main form[action$='/progress'] button").click()
    page.wait_for_load_state()
    assert flash(admin) == "进展已记录。"
    assert page.locator("main a[href*='/evidence/']").inner_text() == "值守照片.pdf"

    # The supervisor urges one item and signs off the other.
    supervisor.goto(f"{PLANS}items/{staggered}")
    page = supervisor.page
    page.locator("#instruction").fill("请于两周内落实错峰放学")
    page.locator("#due_on").fill((today + timedelta(days=14)).isoformat())
    page.locator("main form[action$='/urge'] button").click()
    page.wait_for_load_state()
    assert flash(supervisor) == "已向学校督办。"
    supervisor.goto(f"{PLANS}items/{guard}")
    page.locator("#note").fill("经现场核查已整改到位")
    page.locator("main form[action$='/signoff'] button").click()
    page.wait_for_load_state()
    assert flash(supervisor) == "该事项已销号。"
    shot(supervisor, "signed-off")
    assert_clean(supervisor)

    # A spreadsheet moves three items at once.
    admin.goto(PLANS + "ledger")
    page = admin.page
    with page.expect_download() as download:
        page.locator("main a[href$='/ledger/export']").click()
    book = load_workbook(io.BytesIO(Path(download.value.path()).read_bytes()))
    sheet = book.active
    rows = {row[0].value: row[0].row for row in sheet.iter_rows(min_row=2)}
    for item, status in [(ids[0], "基本完成"), (ids[1], "正在推进"), (staggered, "正在推进")]:
        sheet.cell(rows[item], 7, status)
        sheet.cell(rows[item], 9, "按表格更新")
    sheet.insert_rows(2)
    sheet.column_dimensions["C"].width = 50
    buffer = io.BytesIO()
    book.save(buffer)
    page.locator("#upload").set_input_files(
        [{"name": "台账.xlsx", "mimeType": "application/octet-stream",
          "buffer": buffer.getvalue()}])
    page.locator("main form[action$='/import'] button").click()
    page.wait_for_load_state()
    assert flash(admin) == "已更新 3 项。"
    statuses = page.locator("main table tbody").inner_text()
    assert statuses.count("基本完成") == 1
    assert statuses.count("正在推进") == 2
    assert statuses.count("已销号") == 1
    shot(admin, "ledger")
    assert_clean(admin)

    # The umbrella view says it in the report's words.
    supervisor.goto("/b/jiayu/")
    assert "4 项：已完成 1 项，基本完成 1 项，正在推进 2 项" in supervisor.page.inner_text("main")
