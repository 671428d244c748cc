"""The pledge board end to end: the school publishes, a teacher signs, a parent holds it to it."""

from __future__ import annotations

import io
import re
from urllib.parse import parse_qs, urlsplit

import pytest
import zxingcpp
from PIL import Image

from .conftest import DESKTOP, PHONE, PUBLIC_BASE_URL, RECEIPT, SCHOOL, login

pytestmark = pytest.mark.browser

PLEDGES = SCHOOL + "pledges/"
SERVICE_TITLE = "家长来访当日答复（端到端）"
SERVICE_TEXT = "家长来校反映的问题，学校当日登记，三个工作日内答复。"
SERVICE_TITLE_EDITED = "家长来访两日内答复（端到端）"
SERVICE_TEXT_EDITED = "家长来校反映的问题，学校当日登记，两个工作日内书面答复，节假日顺延。"
ETHICS_TITLE = "2026年度教师师德承诺（端到端）"
ETHICS_TEXT = "不乱收费，不从事有偿补课，不向学生推销教辅资料，关爱每一名学生。"
# A4 portrait (210 × 297 mm) in PostScript points; Chromium rounds the MediaBox to its pixels.
A4_POINTS = (210 / 25.4 * 72, 297 / 25.4 * 72)


def assert_clean(*visits):
    """No console error, uncaught error or CSP violation on the page each visit shows."""
    for visit in visits:
        assert visit.problems() == [], visit.page.url


def publish(admin, kind, title, text, answerable):
    """Publish a pledge through the manage pages; return its public path."""
    page = admin.page
    admin.goto(PLEDGES + "manage")
    page.locator(f"main a.button[href='{PLEDGES}new']").click()
    page.wait_for_url(admin.base_url + PLEDGES + "new")
    year = page.locator("#school_year").input_value()
    assert re.fullmatch(r"(\d{4})-(\d{4})", year), year
    page.locator("#kind").select_option(kind)
    page.locator("#title").fill(title)
    page.locator("#text").fill(text)
    page.locator("#answerable").fill(answerable)
    page.locator("main form button[type=submit]").click()
    page.wait_for_url(re.compile(re.escape(admin.base_url + PLEDGES) + r"\d+$"))
    assert page.locator(".flash-info").inner_text() == "承诺已发布。"
    assert page.get_by_role("heading", level=1).inner_text() == title
    assert_clean(admin)
    return page.url.removeprefix(admin.base_url)


def article(page, title):
    return page.locator("article.pledge").filter(
        has=page.get_by_role("heading", level=2, name=title, exact=True))


def pdf_page_sizes(pdf):
    boxes = re.findall(rb"/MediaBox\s*\[\s*0\s+0\s+([\d.]+)\s+([\d.]+)\s*\]", pdf)
    return [(float(w), float(h)) for w, h in boxes]


def test_school_publishes_teacher_signs_parent_reports_and_prints_the_poster(browse):
    admin = browse(DESKTOP)
    teacher = browse(PHONE)
    parent = browse(PHONE)

    # The school administrator publishes a service pledge and a teacher ethics pledge.
    login(admin, "sxx.admin")
    service = publish(admin, "service", SERVICE_TITLE, SERVICE_TEXT, "校长办公室")
    ethics = publish(admin, "ethics", ETHICS_TITLE, ETHICS_TEXT, "校长")
    service_id = int(service.rsplit("/", 1)[1])
    assert admin.page.locator("form[action$='/sign']").count() == 0  # admins do not sign

    # A teacher signs the ethics pledge in her own account; the public board names her.
    page = teacher.page
    login(teacher, "sxx.teacher")
    teacher.goto(ethics)
    assert page.locator("main p.muted").filter(has_text="尚无教师签署。").count() == 1
    assert page.locator(".pledge-signers").count() == 0
    page.locator("form[action$='/sign'] button").click()
    page.wait_for_url(teacher.base_url + ethics)
    assert page.locator(".flash-info").inner_text() == "您已签署承诺。"
    assert page.locator(".badge.ok").inner_text() == "您已签署此承诺。"
    assert page.locator(".pledge-signers li").filter(has_text="吴芳").count() == 1
    assert page.locator("form[action$='/sign']").count() == 0
    assert_clean(teacher)

    page = parent.page
    parent.goto(PLEDGES)
    signed = article(page, ETHICS_TITLE)
    assert signed.count() == 1
    assert "已有 1 名教师签署：" in signed.inner_text()
    assert "吴芳" in signed.inner_text()
    assert "郑海燕" not in signed.inner_text()  # the other teacher has not signed
    assert article(page, SERVICE_TITLE).count() == 1
    assert article(page, SERVICE_TITLE).locator(".pledge-changed").count() == 0
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    assert_clean(parent)

    # The administrator edits the service pledge: the public page says so, the history keeps both.
    page = admin.page
    admin.goto(service + "/edit")
    page.locator("form[action$='/edit'] #title").fill(SERVICE_TITLE_EDITED)
    page.locator("form[action$='/edit'] #text").fill(SERVICE_TEXT_EDITED)
    page.locator("form[action$='/edit'] button[type=submit]").click()
    page.wait_for_url(admin.base_url + service + "/edit")
    assert page.locator(".flash-info").inner_text() == "承诺已修改，原内容保留在修改记录中。"
    assert_clean(admin)

    page = parent.page
    parent.goto(service)
    assert page.get_by_role("heading", level=1).inner_text() == SERVICE_TITLE_EDITED
    assert page.locator("main .pledge-text").first.inner_text() == SERVICE_TEXT_EDITED
    changed = page.locator(".pledge-changed")
    assert re.match(r"^于 .+ 修改。", changed.inner_text())
    assert page.get_by_text(SERVICE_TEXT, exact=True).count() == 0
    changed.get_by_role("link", name="查看原内容").click()
    page.wait_for_url(parent.base_url + service + "/history")
    versions = page.locator("ol.pledge-history > li")
    assert versions.count() == 2
    assert versions.nth(0).locator("h2").inner_text() == "当前版本（第 2 版）"
    assert versions.nth(0).locator("h3").inner_text() == SERVICE_TITLE_EDITED
    assert versions.nth(0).locator(".pledge-text").inner_text() == SERVICE_TEXT_EDITED
    assert versions.nth(1).locator("h2").inner_text() == "首次发布版本"
    assert versions.nth(1).locator("h3").inner_text() == SERVICE_TITLE
    assert versions.nth(1).locator(".pledge-text").inner_text() == SERVICE_TEXT
    assert_clean(parent)

    # A parent reports the broken pledge from the board: the box's form refers to it.
    parent.goto(PLEDGES)
    report = article(page, SERVICE_TITLE_EDITED).get_by_role("link", name="举报违诺")
    report.click()
    page.wait_for_url(re.compile(re.escape(parent.base_url + SCHOOL + "complaints/") + r"\?"))
    assert parse_qs(urlsplit(page.url).query)["ref"] == [f"pledge:{service_id}"]
    assert page.locator("input[name=reference]").input_value() == f"pledge:{service_id}"
    assert page.locator("#subject").input_value() == SERVICE_TITLE_EDITED
    page.locator("#category").select_option("conduct")
    page.locator("#description").fill("上周二到校反映孩子午餐问题，至今一周没有任何答复。")
    page.locator("main form button[type=submit]").click()
    page.wait_for_load_state()
    code = page.locator(".receipt-code").inner_text().strip()
    assert RECEIPT.match(code), code
    assert SERVICE_TITLE_EDITED in page.locator("section.proof").inner_text()
    assert_clean(parent)
    parent.goto(PLEDGES)
    assert "违诺举报 1 件" in article(page, SERVICE_TITLE_EDITED).inner_text()
    assert "违诺举报" not in article(page, ETHICS_TITLE).inner_text()
    assert_clean(parent)

    # The A4 poster for the gate, with a QR code of the school's public address.
    page.locator(f"main a[href='{PLEDGES}poster']").click()
    page.wait_for_url(parent.base_url + PLEDGES + "poster")
    assert page.locator("body").get_attribute("class") == "poster poster-a4"
    assert page.locator(f"link[rel=stylesheet][href='{PLEDGES}static/poster-a4.css']").count() == 1
    titles = page.locator("ol.poster-pledges h2").all_inner_texts()
    assert SERVICE_TITLE_EDITED in titles
    assert ETHICS_TITLE in titles
    assert SERVICE_TITLE not in titles
    school_url = PUBLIC_BASE_URL + SCHOOL
    assert page.locator(".poster-contact p.poster-url").last.inner_text() == school_url
    printed = page.locator(".poster-contact a.poster-url").inner_text()
    assert printed == PUBLIC_BASE_URL + SCHOOL + "complaints/"  # short enough to type
    box = page.locator(".poster-contact a.poster-url").get_attribute("href") or ""
    assert box.startswith(PUBLIC_BASE_URL + SCHOOL + "complaints/?ref="), box
    qr = page.locator("img.poster-qr")
    assert qr.evaluate("img => img.complete && img.naturalWidth > 0")
    png = page.request.get(parent.base_url + qr.get_attribute("src"))
    assert png.status == 200
    assert png.headers["content-type"] == "image/png"
    decoded = zxingcpp.read_barcodes(Image.open(io.BytesIO(png.body())))
    assert [code.text for code in decoded] == [school_url]
    assert decoded[0].format == zxingcpp.BarcodeFormat.QRCode
    assert_clean(parent)
    sheets = pdf_page_sizes(page.pdf(prefer_css_page_size=True))
    assert len(sheets) == 1, sheets  # the whole poster fits on one sheet
    assert sheets[0] == pytest.approx(A4_POINTS, abs=1.5), sheets

    # The complaint box address on the poster leads to a form that files a report.
    parent.goto(box.removeprefix(PUBLIC_BASE_URL))
    page.locator("#category").select_option("other")
    page.locator("#subject").fill("校门口承诺牌与实际不符")
    page.locator("#description").fill("承诺牌写着当日答复，但我反映的问题一周都没有答复。")
    page.locator("main form button[type=submit]").click()
    page.wait_for_load_state()
    assert RECEIPT.match(page.locator(".receipt-code").inner_text().strip())
    assert_clean(parent)

    # The school's list holds both reports, each with what it refers to.
    page = admin.page
    admin.goto(SCHOOL + "complaints/cases")
    references = {}
    for subject in (SERVICE_TITLE_EDITED, "校门口承诺牌与实际不符"):
        page.locator("main table tbody tr").get_by_role("link", name=subject, exact=True).click()
        page.wait_for_url(re.compile(r"/complaints/cases/\d+$"))
        references[subject] = page.locator("dl.contact dt:text-is('涉及事项') + dd").inner_text()
        assert_clean(admin)
        page.go_back()
    assert references[SERVICE_TITLE_EDITED] == f"pledge:{service_id}"
    assert re.fullmatch(r"pledge-board:\d+", references["校门口承诺牌与实际不符"])
