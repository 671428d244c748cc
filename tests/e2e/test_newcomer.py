"""A newcomer's first visit on a phone: directory, languages, a school page, staff login."""

from __future__ import annotations

import pytest

from .conftest import DEMO_PASSWORD

pytestmark = pytest.mark.browser

SCHOOL = "/s/shiyan-xiaoxue/"


def test_directory_in_chinese_then_english_and_back(phone):
    page = phone.page
    phone.goto("/")
    assert page.locator("html").get_attribute("lang") == "zh-Hans"
    assert page.get_by_role("heading", name="嘉鱼县教育局").is_visible()
    assert page.get_by_role("link", name="嘉鱼县实验小学").is_visible()

    page.locator("header a.lang[lang=en]").click()
    page.wait_for_load_state()
    assert page.url == phone.base_url + "/"
    assert page.locator("html").get_attribute("lang") == "en"
    assert page.get_by_role("heading", name="Jiayu County Education Bureau").is_visible()
    assert page.get_by_role("link", name="Schools and bureaus").count() == 0  # the h1, not a link
    assert page.get_by_role("heading", name="Schools and bureaus").is_visible()
    assert page.get_by_text("嘉鱼县教育局", exact=True).count() == 0

    page.locator("header a.lang[lang=zh-Hans]").click()
    page.wait_for_load_state()
    assert page.locator("html").get_attribute("lang") == "zh-Hans"
    assert page.get_by_role("heading", name="嘉鱼县教育局").is_visible()
    assert phone.problems() == []


def test_school_page_fits_a_phone(phone, tmp_path):
    page = phone.page
    phone.goto("/")
    page.get_by_role("link", name="嘉鱼县实验小学").click()
    page.wait_for_load_state()
    assert page.url == phone.base_url + SCHOOL
    assert page.get_by_role("heading", level=1).inner_text() == "嘉鱼县实验小学"
    widths = page.evaluate(
        "[document.documentElement.scrollWidth, window.innerWidth]"
    )
    assert widths[0] <= widths[1], f"horizontal scroll on a phone: {widths}"
    page.screenshot(path=str(tmp_path / "school-phone.png"), full_page=True)
    assert phone.problems() == []


def test_school_admin_logs_in_manages_own_school_only_and_logs_out(phone):
    page = phone.page
    phone.goto("/")
    page.locator("header a[href='/login']").click()
    page.wait_for_load_state()

    # A wrong password: the error is shown, the username kept, the password not.
    page.locator("#username").fill("sxx.admin")
    page.locator("#password").fill("not the password")
    page.locator("main form button[type=submit]").click()
    page.wait_for_load_state()
    assert page.url.startswith(phone.base_url + "/login")
    assert page.locator(".flash-error[role=alert]").is_visible()
    assert page.locator("#username").input_value() == "sxx.admin"
    assert page.locator("#password").input_value() == ""

    page.locator("#password").fill(DEMO_PASSWORD)
    page.locator("main form button[type=submit]").click()
    page.wait_for_url(phone.base_url + SCHOOL + "desk/")  # staff land at their desk
    assert page.get_by_role("heading", level=1).inner_text() == "我的工作台"
    assert page.locator(".org-name").inner_text() == "嘉鱼县实验小学"
    assert page.locator("header form[action='/logout'] button").is_visible()

    settings = page.locator(f"nav a[href='{SCHOOL}admin/']")
    settings.click()
    page.wait_for_url(phone.base_url + SCHOOL + "admin/")
    assert page.locator("main form input[name=csrf_token]").count() == 1
    assert page.locator("main form #name").input_value() == "嘉鱼县实验小学"
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")

    # Another school's and the bureau's administration do not exist for this account.
    for path in ("/s/yuyue-zhongxin/admin/", "/b/jiayu/admin/users"):
        phone.goto(path, status=404)
        assert page.locator("main .muted").filter(has_text="404").is_visible()
        assert page.locator("main input[name=csrf_token]").count() == 0

    phone.goto(SCHOOL)
    page.locator("header form[action='/logout'] button").click()
    page.wait_for_url(phone.base_url + "/")
    assert page.locator(".flash-info[role=status]").is_visible()
    assert page.locator("header a[href='/login']").is_visible()
    phone.goto(SCHOOL + "admin/")
    assert page.url.startswith(phone.base_url + "/login")
    assert phone.problems() == []
