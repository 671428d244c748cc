"""The core's pages: directory, school and bureau pages, errors, headers and the language."""

from __future__ import annotations

import re
from html import unescape
from pathlib import Path

import pytest
from babel.support import Translations
from conftest import login, make_app
from kaimen_noticeboard import Notice

from kaimen import plugins, public
from kaimen.extensions import db

ROOT = Path(__file__).resolve().parents[2]
EN = {"Accept-Language": "en"}
ZH = {"Accept-Language": "zh-CN"}


def zh(msgid: str) -> str | None:
    """Return the zh_Hans translation of ``msgid``, or None while it has none."""
    text = Translations.load(str(ROOT / "translations"), ["zh_Hans"]).gettext(msgid)
    return text if text != msgid else None


def assert_chinese(response, msgid: str) -> None:
    body = unescape(response.get_data(as_text=True))
    assert '<html lang="zh-Hans">' in body
    if zh(msgid) is not None:
        assert zh(msgid) in body
        assert msgid not in body


def html_lang(response) -> str:
    match = re.search(r'<html lang="([^"]+)">', response.get_data(as_text=True))
    assert match, "no <html lang>"
    return match.group(1)


# --- directory, school and bureau pages ------------------------------------------------------


def test_directory_lists_bureaus_and_their_schools(client, county):
    page = client.get("/").get_data(as_text=True)
    for name in ("city教育局", "county-a教育局", "county-b教育局", "a1学校", "a2学校", "b1学校"):
        assert name in page
    for slug in ("a1", "a2", "b1"):
        assert f'href="/s/{slug}/"' in page
    # Each school is listed under its own bureau.
    sections = {re.search(r"<h2>(.*?)</h2>", s).group(1): s
                for s in page.split('<section class="card">')[1:]}
    assert re.findall(r'href="/s/([^/]+)/"', sections["county-a教育局"]) == ["a1", "a2"]
    assert re.findall(r'href="/s/([^/]+)/"', sections["county-b教育局"]) == ["b1"]
    assert re.findall(r'href="/s/([^/]+)/"', sections["city教育局"]) == []


def test_directory_empty_state(client, app):
    response = client.get("/", headers=EN)
    assert response.status_code == 200
    assert "No bureau has been set up yet." in response.get_data(as_text=True)


def test_directory_uses_english_names_in_english(client, county, ctx):
    county.a1.name_en = "First School"
    db.session.commit()
    assert "First School" in client.get("/", headers=EN).get_data(as_text=True)
    page = client.get("/", headers=ZH).get_data(as_text=True)
    assert "First School" not in page
    assert "a1学校" in page


def test_school_page_shows_contact_details_and_panels(client, county, ctx):
    county.a1.address = "嘉鱼县鱼岳镇沿湖大道"
    county.a1.phone = "0715-6100001"
    county.a1.hotline = "0715 6100012"
    county.a1.email = "office@a1.example.cn"
    db.session.add(Notice(school_id=county.a1.id, title="开学通知"))
    db.session.add(Notice(school_id=county.a1.id, title="内部", staff_only=True))
    db.session.commit()
    page = client.get("/s/a1/").get_data(as_text=True)
    assert "a1学校" in page
    assert "嘉鱼县鱼岳镇沿湖大道" in page
    assert 'href="tel:0715-6100001"' in page
    assert 'href="tel:07156100012"' in page
    assert "office@a1.example.cn" in page
    assert '<section class="card panel">' in page
    assert "1 public notices" in page


def test_school_page_without_panels_shows_the_empty_state(client, county, ctx):
    for name in plugins.state().plugins:
        plugins.set_enabled(county.a1, name, False)
    db.session.commit()
    page = client.get("/s/a1/", headers=EN).get_data(as_text=True)
    assert "This school has not published anything yet." in page
    assert 'class="card panel"' not in page


@pytest.mark.parametrize("path", ["/s/unknown/", "/b/unknown/", "/s/county-a/", "/b/a1/",
                                  "/no/such/page", "/s/unknown/noticeboard/"])
def test_unknown_pages_answer_a_translated_404(client, county, path):
    english = client.get(path, headers=EN)
    assert english.status_code == 404
    assert "Page not found" in english.get_data(as_text=True)
    chinese = client.get(path, headers=ZH)
    assert chinese.status_code == 404
    assert_chinese(chinese, "Page not found")


def test_bureau_page_without_schools(client, county, make, ctx):
    empty = make.bureau("empty-county", parent=county.city)
    make.user("empty.admin", "bureau_admin", empty)
    db.session.commit()
    login(client, "empty.admin")
    response = client.get("/b/empty-county/", headers=EN)
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "No schools are registered under this bureau yet." in page
    assert "<table>" not in page


def test_bureau_page_without_metrics(client, county, ctx):
    for school in (county.a1, county.a2):
        for name in plugins.state().plugins:
            plugins.set_enabled(school, name, False)
    db.session.commit()
    login(client, "a.supervisor")
    page = client.get("/b/county-a/", headers=EN).get_data(as_text=True)
    assert "No feature reports figures yet." in page
    assert "No schools are registered" not in page
    assert "<table>" not in page


# Other installed plugins add tables of their own: this is the notice board's.
UMBRELLA_TABLE = re.compile(r'<table id="umbrella" class="umbrella">(.*?)</table>', re.S)


@pytest.mark.parametrize(("username", "bureau", "rows", "total"), [
    ("a.supervisor", "county-a", ["a1", "a2"], "3"),
    ("city.supervisor", "city", ["a1", "a2"], "3"),
    ("b.supervisor", "county-b", ["b1"], "1"),
])
def test_umbrella_view_shows_the_metric_table_with_a_total(client, county, ctx, username,
                                                           bureau, rows, total):
    for school, count in ((county.a1, 2), (county.a2, 1), (county.b1, 1)):
        for n in range(count):
            db.session.add(Notice(school_id=school.id, title=f"n{n}"))
    db.session.commit()
    login(client, username)
    page = client.get(f"/b/{bureau}/", headers=EN).get_data(as_text=True)
    (table,) = UMBRELLA_TABLE.findall(page)
    body, foot = table.split("<tfoot>")
    assert re.findall(r'<tr[^>]*><th scope="row"><a href="/s/([^/]+)/(?:desk/)?">', body) == rows
    counts = {"a1": "2", "a2": "1", "b1": "1"}
    assert re.findall(r'<td data-metric="Notices">([^<]*)</td>', body) == [
        counts[school] for school in rows]
    assert re.findall(r'<td data-metric="Notices">([^<]*)</td>', foot) == [total]


def test_umbrella_view_is_not_public(client, county):
    response = client.get("/b/county-a/")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login?next=/b/county-a/")
    login(client, "b.supervisor")
    assert client.get("/b/county-a/").status_code == 404
    client.post("/logout")
    login(client, "a1.admin")
    assert client.get("/b/county-a/").status_code == 404


# --- headers and markup ---------------------------------------------------------------------


def test_csp_forbids_inline_script_and_style(client, county):
    response = client.get("/s/a1/")
    policy = response.headers["Content-Security-Policy"]
    directives = dict(d.strip().split(" ", 1) for d in policy.split(";"))
    assert directives["script-src"] == "'self'"
    assert directives["style-src"] == "'self'"
    assert directives["object-src"] == "'none'"
    assert directives["frame-ancestors"] == "'none'"
    assert "unsafe-inline" not in policy
    assert "unsafe-eval" not in policy
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert client.get("/no/such/page").headers["Content-Security-Policy"] == policy


INLINE = [
    (re.compile(r"<script(?![^>]*\bsrc=)[^>]*>", re.I), "inline <script>"),
    (re.compile(r"<style", re.I), "<style>"),
    (re.compile(r"\sstyle=", re.I), "style= attribute"),
    (re.compile(r"\son[a-z]+=", re.I), "inline event handler"),
]

PAGES = {
    None: ["/", "/login", "/track", "/s/a1/", "/s/a1/noticeboard/", "/s/unknown/", "/lang/en"],
    "a1.admin": ["/s/a1/", "/s/a1/admin/", "/s/a1/admin/users", "/account",
                 "/s/a1/noticeboard/staff"],
    "a.admin": ["/b/county-a/", "/b/county-a/admin/", "/b/county-a/admin/users",
                "/b/county-a/admin/plugins", "/b/county-a/audit/", "/s/a2/admin/"],
    "a.supervisor": ["/b/county-a/", "/b/county-a/audit/", "/s/a1/", "/b/county-a/admin/"],
    "city.supervisor": ["/b/city/", "/b/city/audit/"],
}


@pytest.mark.parametrize("username", list(PAGES))
def test_pages_have_no_inline_script_or_style(client, county, username):
    if username:
        login(client, username)
    checked = 0
    for path in PAGES[username]:
        for headers in (EN, ZH):
            response = client.get(path, headers=headers, follow_redirects=True)
            assert response.status_code in (200, 403, 404), path
            body = response.get_data(as_text=True)
            assert "<html" in body
            for pattern, what in INLINE:
                assert not pattern.search(body), f"{path} has an {what}"
            checked += 1
    assert checked == 2 * len(PAGES[username])


def test_the_inline_markup_check_can_fail():
    for sample in ('<script>alert(1)</script>', '<div style="color:red">', "<style>p{}</style>",
                   '<a onclick="x()">'):
        assert any(pattern.search(sample) for pattern, _what in INLINE), sample
    assert not any(p.search('<script src="/static/x.js"></script>') for p, _w in INLINE)


# --- error pages ----------------------------------------------------------------------------


def test_too_large_body_gives_the_413_page(app, client, county):
    app.config["MAX_CONTENT_LENGTH"] = 1024
    data = {"username": "a1.admin", "password": "x" * 4096}
    english = client.post("/login", data=data, headers=EN)
    assert english.status_code == 413
    assert "Too large" in english.get_data(as_text=True)
    chinese = client.post("/login", data=data, headers=ZH)
    assert chinese.status_code == 413
    assert_chinese(chinese, "Too large")
    # A body under the limit is fine.
    assert client.post("/login", data={"username": "a1.admin", "password": "x"}).status_code == 200


def test_max_content_length_follows_the_setting(app):
    assert app.config["MAX_CONTENT_LENGTH"] == app.config["MAX_UPLOAD_MB"] * 1024 * 1024


def test_a_failing_view_gives_the_translated_500_page(backend, fresh_database):
    app = make_app(fresh_database.url(backend))
    app.config["PROPAGATE_EXCEPTIONS"] = False

    def boom() -> str:
        raise RuntimeError("deliberate failure")

    app.add_url_rule("/boom", "boom", public(boom))
    try:
        client = app.test_client()
        english = client.get("/boom", headers=EN)
        assert english.status_code == 500
        body = english.get_data(as_text=True)
        assert "Something went wrong" in body
        assert "deliberate failure" not in body
        assert "Traceback" not in body
        chinese = client.get("/boom", headers=ZH)
        assert chinese.status_code == 500
        assert_chinese(chinese, "Something went wrong")
    finally:
        with app.app_context():
            db.engine.dispose()


def test_healthz_reports_ok(client, app):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok", "database": "ok"}


# --- language ----------------------------------------------------------------------------------


def test_language_cookie_beats_accept_language(client, county):
    response = client.get("/lang/en")
    assert response.status_code == 302
    assert "kaimen_locale=en" in response.headers["Set-Cookie"]
    assert html_lang(client.get("/", headers=ZH)) == "en"
    client.get("/lang/zh_Hans")
    assert html_lang(client.get("/s/a1/", headers=EN)) == "zh-Hans"


def test_user_setting_beats_accept_language(client, county, ctx):
    county.users["a1.teacher"].locale = "en"
    county.users["a2.admin"].locale = "zh_Hans"
    db.session.commit()
    login(client, "a1.teacher")
    assert html_lang(client.get("/s/a1/", headers=ZH)) == "en"
    client.post("/logout")
    login(client, "a2.admin")
    assert html_lang(client.get("/s/a2/", headers=EN)) == "zh-Hans"


def test_accept_language_picks_the_language(client, county, ctx):
    county.a.default_locale = "en"
    db.session.commit()
    zh_page = client.get("/login", headers={"Accept-Language": "zh-CN,zh;q=0.9,en;q=0.8"})
    assert html_lang(zh_page) == "zh-Hans"
    assert_chinese(zh_page, "Log in")
    assert html_lang(client.get("/s/a1/", headers=ZH)) == "zh-Hans"
    en_page = client.get("/login", headers={"Accept-Language": "en-GB,en;q=0.9"})
    assert html_lang(en_page) == "en"
    assert "Log in" in en_page.get_data(as_text=True)
    # A language we lack is skipped for the next one the browser accepts.
    assert html_lang(client.get("/", headers={"Accept-Language": "fr-FR, en;q=0.5"})) == "en"


def test_without_a_header_the_bureau_default_applies(client, county, ctx):
    county.a.default_locale = "en"
    db.session.commit()
    assert html_lang(client.get("/s/b1/")) == "zh-Hans"  # county-b: zh_Hans
    assert html_lang(client.get("/s/a1/")) == "en"  # county-a: en
    assert html_lang(client.get("/")) == "zh-Hans"  # no bureau: the site default
    page = client.get("/s/b1/")
    if zh("Log in") is not None:
        assert zh("Log in") in page.get_data(as_text=True)


def test_unknown_language_flashes_an_error_and_sets_no_cookie(client, county):
    response = client.get("/lang/xx", headers=EN)
    assert response.status_code == 302
    assert not [c for c in response.headers.getlist("Set-Cookie") if c.startswith("kaimen_locale=")]
    page = client.get("/", headers=EN).get_data(as_text=True)
    assert "That language is not available." in page
    assert 'flash flash-error' in page


@pytest.mark.parametrize("target", ["//evil.example", "https://evil.example/x", "/\\evil.example"])
def test_language_switch_refuses_open_redirects(client, county, target):
    response = client.get("/lang/en", query_string={"next": target})
    assert response.status_code == 302
    assert response.headers["Location"] == "/"
    assert "kaimen_locale=en" in response.headers["Set-Cookie"]


def test_language_switch_returns_to_the_page(client, county):
    response = client.get("/lang/en", query_string={"next": "/s/a1/?page=2"})
    assert response.headers["Location"] == "/s/a1/?page=2"


def test_school_staff_have_a_desk_with_what_waits_for_them(client, county):
    from conftest import login

    login(client, "a1.teacher")
    page = client.get("/s/a1/desk/", headers={"Accept-Language": "en"})
    assert page.status_code == 200
    body = page.get_data(as_text=True)
    assert "<h1>My desk</h1>" in body
    assert 'href="/s/a1/desk/"' in body  # in the navigation too
    assert page.headers["Cache-Control"] == "no-store"


def test_the_desk_is_personal_to_the_schools_staff(app, county):
    from conftest import login

    anonymous = app.test_client().get("/s/a1/desk/")
    assert anonymous.status_code == 302
    other = app.test_client()
    login(other, "a2.admin")
    assert other.get("/s/a1/desk/").status_code == 404
