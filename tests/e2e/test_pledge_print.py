"""The pledge board on paper: the poster fits one A4 sheet; the board prints without buttons."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import zxingcpp
from PIL import Image

from blueprints.pledges import services
from blueprints.pledges.demo import SCHOOL_PLEDGES
from blueprints.pledges.models import SERVICE, TEXT_MAX, TITLE_MAX
from kaimen import Organisation, User, tenancy
from kaimen.extensions import db

from .conftest import DESKTOP, PUBLIC_BASE_URL

pytestmark = pytest.mark.browser

POPPLER_SKIP = ("pdftoppm/pdftotext not found: browser print tests skipped. "
                "Install poppler-utils (apt-get install poppler-utils)")
# (school, pledges, longest): how many pledges a school publishes, and whether each title
# and text is as long as the form allows.
BOARDS = {
    "yuyue-zhongxin": (1, False),
    "shiyan-zhongxue": (8, False),
    "chengbei-zhongxue": (20, False),
    "lantian-zhongxue": (8, True),
}
BUREAU_HOTLINE = "0715-6000012"
SCHOOL_HOTLINE = "0715-6188888"


def _school(slug: str) -> Organisation:
    return db.session.query(Organisation).filter_by(slug=slug).one()


@pytest.fixture(scope="module")
def boards(live_app: Any) -> dict[str, list[int]]:
    """Publish each school's board of ``BOARDS``; edit its first pledge once."""
    published: dict[str, list[int]] = {}
    with live_app.app_context(), tenancy.system_scope():
        admin = db.session.query(User).filter_by(username="bureau.admin").one()
        year = services.current_school_year()
        for slug, (count, longest) in BOARDS.items():
            school = _school(slug)
            school.hotline = SCHOOL_HOTLINE
            pledges = []
            for number in range(count):
                title, text, answerable = SCHOOL_PLEDGES[number % len(SCHOOL_PLEDGES)]
                if longest:
                    title, text = (title * TITLE_MAX)[:TITLE_MAX], (text * TEXT_MAX)[:TEXT_MAX]
                elif number >= len(SCHOOL_PLEDGES):
                    title = f"{title}（{number + 1}）"
                pledges.append(services.publish_school_pledge(
                    school, SERVICE, admin, title=title, text=text, answerable=answerable,
                    school_year=year))
            db.session.flush()
            first = pledges[0]
            services.edit(first, admin, title=first.title, text=first.text + "（已修订）",
                          answerable=first.answerable, school_year=year)
            published[slug] = [p.id for p in pledges]
        db.session.commit()
    return published


def poppler(tool: str) -> str:
    path = shutil.which(tool)
    if path is None:
        pytest.skip(POPPLER_SKIP)
    return path


@pytest.mark.parametrize("slug", list(BOARDS))
def test_the_a4_poster_fits_one_sheet_with_the_qr_code_and_hotline(
    boards, browse, slug, tmp_path: Path
):
    pdftoppm, pdftotext = poppler("pdftoppm"), poppler("pdftotext")
    visitor = browse(DESKTOP)
    visitor.goto(f"/s/{slug}/pledges/poster")
    pdf = tmp_path / "poster.pdf"
    pdf.write_bytes(visitor.page.pdf(prefer_css_page_size=True))
    text = subprocess.run([pdftotext, "-layout", str(pdf), "-"], check=True,
                          capture_output=True, text=True).stdout
    sheets = text.count("\f")
    assert sheets == 1, f"{sheets} sheets:\n{text}"
    assert SCHOOL_HOTLINE in text
    assert BUREAU_HOTLINE in text
    count = len(boards[slug])
    shown = visitor.page.locator("ol.poster-pledges > li").count()
    assert 1 <= shown <= count
    if shown < count:  # the rest are counted, with the address of the board that has them
        flat = re.sub(r"\s+", "", text)  # CJK text extracts with stray breaks; numbers do not
        assert f"{count - shown}" in flat
        assert f"{PUBLIC_BASE_URL}/s/{slug}/pledges/" in flat, text
    subprocess.run([pdftoppm, "-r", "110", "-png", str(pdf), str(tmp_path / "sheet")],
                   check=True)
    (image,) = sorted(tmp_path.glob("sheet*.png"))
    decoded = zxingcpp.read_barcodes(Image.open(image))
    assert [code.text for code in decoded] == [f"{PUBLIC_BASE_URL}/s/{slug}/"]


def test_the_printed_board_leaves_out_what_means_nothing_on_paper(boards, browse):
    visitor = browse(DESKTOP)
    page = visitor.page
    slug = "shiyan-zhongxue"
    first = boards[slug][0]
    for path in (f"/s/{slug}/pledges/", f"/s/{slug}/pledges/{first}"):
        visitor.goto(path)
        on_screen = {
            "report": page.get_by_role("link", name="举报违诺").first,
            "earlier text": page.get_by_role("link", name="查看原内容").first,
        }
        if path.endswith("/pledges/"):
            on_screen["poster"] = page.locator("main a[href$='/pledges/poster']")
        else:
            on_screen["back to the board"] = page.locator("main a[href$='/pledges/']").first
        for name, locator in on_screen.items():
            assert locator.is_visible(), (path, name)
        page.emulate_media(media="print")
        for name, locator in on_screen.items():
            assert not locator.is_visible(), (path, name)
        assert page.locator(".pledge-changed").first.is_visible()  # the date of the change stays
        assert page.locator(".pledge-text").first.is_visible()
        page.emulate_media(media="screen")
