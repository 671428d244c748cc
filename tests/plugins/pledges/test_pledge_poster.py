"""The gate poster and its QR code, and the path from a broken pledge to the complaint box."""

import io
import re
import sys
import types
from html import unescape

import pytest
import zxingcpp
from PIL import Image

import kaimen
from kaimen import plugins
from kaimen.extensions import db


def _fake_box():
    """A stand-in complaint box: answers the report hooks for pledges, counts two reports."""
    module = types.ModuleType("fake_box")
    seen = []

    @kaimen.hookimpl
    def kaimen_report_link(school, reference, title):
        seen.append((school.slug, reference, title))
        return f"/s/{school.slug}/box/new?ref={reference}"

    @kaimen.hookimpl
    def kaimen_report_counts(schools, references):
        return {ref: (2, 1) for ref in references if ref.startswith("pledge:")}

    module.kaimen_report_link = kaimen_report_link
    module.kaimen_report_counts = kaimen_report_counts
    module.seen = seen
    return module


@pytest.fixture
def fake_box(app):
    module = _fake_box()
    manager = app.extensions["kaimen"].manager
    manager.register(module, name="fake_box")
    sys.modules["fake_box"] = module
    yield module
    manager.unregister(module)
    sys.modules.pop("fake_box", None)


def test_no_report_link_without_a_complaint_box(board, ctx, visitor):
    # The complaint box is installed: switch it off for a1, so a1 has no box.
    plugins.set_enabled(board.county.a1, "complaints", False)
    db.session.commit()
    page = visitor.get("/s/a1/pledges/").text
    assert "Report a broken pledge" not in page
    assert "reports of a broken pledge" not in page
    assert "/complaints/" not in page
    # a2 keeps its box, and its link.
    assert "Report a broken pledge" in visitor.get("/s/a2/pledges/").text


def _hidden(page, name):
    return unescape(re.search(rf'name="{name}" type="hidden" value="([^"]*)"', page).group(1))


def test_a_broken_pledge_is_reported_through_the_complaint_box(board, visitor):
    page = visitor.get("/s/a1/pledges/").text
    assert "Report a broken pledge" in page
    assert "reports of a broken pledge" not in page
    links = re.findall(r'href="([^"]*/complaints/[^"]*)">Report a broken pledge<', page)
    (link,) = [unescape(url) for url in links if f"ref=pledge:{board.fees}&" in unescape(url)]
    assert link.startswith("/s/a1/complaints/?")
    form = visitor.get(link).text
    assert _hidden(form, "reference") == f"pledge:{board.fees}"
    filed = visitor.post("/s/a1/complaints/", data={
        "token": _hidden(form, "token"), "reference": _hidden(form, "reference"),
        "kind": "complaint", "category": "arbitrary_fees", "subject": "No arbitrary fees",
        "description": "We were asked for a fee the pledge rules out.", "identity": "anonymous",
    }, content_type="multipart/form-data")
    assert filed.status_code == 200
    assert 'class="receipt-code"' in filed.text
    page = visitor.get("/s/a1/pledges/").text
    assert "1 report of a broken pledge, 0 substantiated" in page
    assert "1 report of a broken pledge" not in visitor.get("/s/a2/pledges/").text


def test_report_link_and_counts_come_through_the_hook(board, visitor, fake_box):
    page = visitor.get("/s/a1/pledges/").text
    assert f'href="/s/a1/box/new?ref=pledge:{board.fees}"' in page.replace("&amp;", "&")
    assert "Report a broken pledge" in page
    assert "2 reports of a broken pledge, 1 substantiated" in page
    assert ("a1", f"pledge:{board.fees}", "No arbitrary fees") in fake_box.seen
    detail = visitor.get(f"/s/a1/pledges/{board.ethics}").text
    assert f"ref=pledge:{board.ethics}" in detail


def _decode(png: bytes) -> list[str]:
    return [result.text for result in zxingcpp.read_barcodes(Image.open(io.BytesIO(png)))]


@pytest.mark.parametrize("size", ["a4", "a3"])
def test_the_poster_carries_pledges_hotline_and_a_qr_code_of_the_school_page(
    board, ctx, visitor, size
):
    board.county.a1.hotline = "0715-6100999"
    db.session.commit()
    poster = visitor.get(f"/s/a1/pledges/poster?size={size}")
    assert poster.status_code == 200
    assert f"poster-{size}.css" in poster.text
    assert "No arbitrary fees" in poster.text
    assert "Teacher ethics" in poster.text
    assert "A2 pledge" not in poster.text
    assert "0715-6100999" in poster.text
    assert "https://kaimen.example.org/s/a1/" in poster.text
    src = re.search(r'<img class="poster-qr" src="([^"]+)"', poster.text).group(1)
    image = visitor.get(src)
    assert image.status_code == 200
    assert image.mimetype == "image/png"
    assert _decode(image.data) == ["https://kaimen.example.org/s/a1/"]
    css = visitor.get(f"/s/a1/pledges/static/poster-{size}.css")
    assert f"size: {size.upper()}" in css.text
    css.close()


def test_the_qr_code_uses_the_configured_base_url_not_the_request_host(board, app, visitor):
    app.config["BASE_URL"] = "https://jiaoyu.example.cn/kaimen/"
    # A host that is served (loopback, in testing) but is not the public address.
    response = visitor.get("/s/a1/pledges/qr.png", headers={"Host": "127.0.0.1:8000"})
    assert _decode(response.data) == ["https://jiaoyu.example.cn/kaimen/s/a1/"]
    # Any other host is not served at all.
    forged = visitor.get("/s/a1/pledges/qr.png", headers={"Host": "evil.example.com"})
    assert forged.status_code == 400


def test_the_poster_shows_the_complaint_box_when_there_is_one(board, visitor, fake_box):
    poster = visitor.get("/s/a1/pledges/poster").text
    assert 'href="https://kaimen.example.org/s/a1/box/new?ref=pledge-board:' in poster.replace(
        "&amp;", "&"
    )
    # the printed address is the short one, without the query string
    assert ">https://kaimen.example.org/s/a1/box/new</a>" in poster
    assert "Opinion box" in poster


def test_the_hotline_has_one_name_on_the_poster_and_the_school_page(board, ctx, app):
    board.county.a1.hotline = "0715-6100999"
    board.county.a1.bureau().hotline = "0715-6000012"
    db.session.commit()
    chinese = app.test_client()
    chinese.set_cookie("kaimen_locale", "zh_Hans")
    poster = chinese.get("/s/a1/pledges/poster").text
    page = chinese.get("/s/a1/").text
    assert "学校意见受理电话：" in poster
    assert "教育局意见受理电话：" in poster
    assert "意见受理电话" in page
    for text in (poster, page):
        assert "监督电话" not in text
        assert "热线" not in text
