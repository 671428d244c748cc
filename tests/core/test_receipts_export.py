"""Receipt codes, /track, the export helper and the pagination helper."""

from __future__ import annotations

import csv
import io
import math
import re
from html import unescape
from pathlib import Path
from urllib.parse import unquote

import openpyxl
import pytest
import sqlalchemy as sa
from babel.support import Translations
from conftest import login
from flask_wtf import FlaskForm

from kaimen import plugins, receipts, tenancy
from kaimen.export import csv_bytes, table_response, xlsx_bytes
from kaimen.extensions import db
from kaimen.orgs import Organisation
from kaimen.pagination import paginate
from kaimen.receipts import ALPHABET, Receipt

ROOT = Path(__file__).resolve().parents[2]
CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
CODE = re.compile(rf"^[{CROCKFORD}]{{4}}(-[{CROCKFORD}]{{4}}){{4}}$")
NO_MATCH = "No submission matches this receipt code. Check it and try again."


# --- receipt codes ---------------------------------------------------------------------------


def test_codes_are_five_groups_of_four_crockford_characters():
    codes = [receipts.new_code() for _ in range(300)]
    assert all(CODE.match(code) for code in codes), codes[:3]
    assert len(set(codes)) == len(codes)
    # Every character of the alphabet turns up: the whole alphabet is used.
    assert set("".join(codes).replace("-", "")) == set(CROCKFORD)


def test_codes_carry_at_least_80_bits():
    assert ALPHABET == CROCKFORD
    characters = len(receipts.new_code().replace("-", ""))
    assert characters == 20
    assert characters * math.log2(len(set(ALPHABET))) >= 80


def test_only_a_keyed_hash_is_stored(app, county, ctx):
    code = receipts.issue("noticeboard", 7, county.a1.id)
    db.session.commit()
    canonical = code.replace("-", "")
    rows = db.session.execute(sa.select(Receipt.__table__)).all()
    assert len(rows) == 1
    stored = " ".join(str(value) for value in rows[0])
    assert code not in stored
    assert canonical not in stored
    assert canonical.lower() not in stored
    (receipt,) = db.session.scalars(sa.select(Receipt))
    assert re.fullmatch(r"[0-9a-f]{64}", receipt.code_hash)
    assert (receipt.plugin, receipt.object_id) == ("noticeboard", 7)
    assert receipt.school_id == county.a1.id
    # The hash is keyed: another secret key finds nothing.
    app.config["SECRET_KEY"] = "another-secret-key"
    assert receipts.lookup(code) is None


@pytest.mark.parametrize(("typed", "canonical"), [
    ("0123-4567-89AB-CDEF-GHJK", "0123456789ABCDEFGHJK"),
    ("0123456789abcdefghjk", "0123456789ABCDEFGHJK"),
    ("  o123 4567 89ab cdef ghjk ", "0123456789ABCDEFGHJK"),
    ("O123-4567-89AB-CDEF-GHJK", "0123456789ABCDEFGHJK"),
    ("I1L1-iil1-0000-MNPQ-RSTV", "11111111" + "0000MNPQRSTV"),
    ("0123–4567—89AB_CDEF.GHJK", "0123456789ABCDEFGHJK"),
])
def test_normalise_forgives_case_spaces_dashes_and_look_alikes(typed, canonical):
    assert receipts.normalise(typed) == canonical


@pytest.mark.parametrize("typed", ["", "ABCD", "0123-4567-89AB-CDEF-GHJ",
                                   "0123-4567-89AB-CDEF-GHJKM", "0123-4567-89AB-CDEF-GHJ!",
                                   "0123-4567-89AB-CDEF-GH中K"])
def test_normalise_refuses_malformed_codes(typed):
    assert receipts.normalise(typed) is None


def test_lookup_finds_the_receipt_however_the_code_is_typed(county, ctx):
    code = receipts.issue("noticeboard", 11, county.a2.id)
    db.session.commit()
    sloppy = " " + code.lower().replace("-", " ").replace("0", "o").replace("1", "l") + " "
    for typed in (code, code.replace("-", ""), sloppy):
        receipt = receipts.lookup(typed)
        assert receipt is not None, typed
        assert receipt.object_id == 11
    wrong = code[:-1] + ("0" if code[-1] != "0" else "1")
    assert receipts.lookup(wrong) is None
    assert receipts.lookup("not a code") is None


# --- one-time form tokens: idempotent receipts ------------------------------------------------

TOKEN = "Zq3-rT8_wXy2LmNo4PqRsTuV"


def test_replay_gives_back_what_the_first_submission_with_the_token_got(app, county, ctx):
    code = receipts.issue("noticeboard", 21, county.a1.id, token=TOKEN)
    db.session.commit()
    assert receipts.replay("noticeboard", county.a1.id, TOKEN) == (21, code)
    # Only that plugin, that school and that very token replay it.
    assert receipts.replay("pledges", county.a1.id, TOKEN) is None
    assert receipts.replay("noticeboard", county.a2.id, TOKEN) is None
    assert receipts.replay("noticeboard", county.a1.id, TOKEN[:-1] + "W") is None
    assert receipts.replay("noticeboard", county.a1.id, "") is None
    # Neither the token nor the code is stored in the clear, and the hash is keyed.
    stored = " ".join(str(value) for value in db.session.execute(
        sa.select(Receipt.__table__)).one())
    for secret in (TOKEN, code, code.replace("-", "")):
        assert secret not in stored
    app.config["SECRET_KEY"] = "another-secret-key"
    assert receipts.replay("noticeboard", county.a1.id, TOKEN) is None


def test_a_receipt_without_token_is_never_replayed(county, ctx):
    receipts.issue("noticeboard", 22, county.a1.id)
    db.session.commit()
    (receipt,) = db.session.scalars(sa.select(Receipt))
    assert receipt.token_hash is None
    assert receipt.sealed_code is None
    assert receipts.replay("noticeboard", county.a1.id, TOKEN) is None


def test_the_same_token_twice_fails_the_second_transaction(county, ctx):
    first = receipts.issue("noticeboard", 23, county.a1.id, token=TOKEN)
    db.session.commit()
    receipts.issue("noticeboard", 24, county.a1.id, token=TOKEN)
    with pytest.raises(sa.exc.IntegrityError):
        db.session.commit()
    db.session.rollback()
    assert receipts.replay("noticeboard", county.a1.id, TOKEN) == (23, first)
    # Another plugin or another school may meet the same token.
    receipts.issue("pledges", 25, county.a1.id, token=TOKEN)
    receipts.issue("noticeboard", 26, county.a2.id, token=TOKEN)
    db.session.commit()
    assert receipts.replay("noticeboard", county.a2.id, TOKEN)[0] == 26


@pytest.mark.parametrize(("sent", "kept"), [
    (TOKEN, True), (f"  {TOKEN} ", True), ("", False), ("short", False),
    (TOKEN + "!", False), ("x" * 65, False), (TOKEN[:10] + " " + TOKEN[10:], False),
])
def test_the_token_mixin_keeps_a_well_formed_token_and_replaces_any_other(app, sent, kept):
    class TokenForm(receipts.ReceiptTokenMixin, FlaskForm):
        pass

    with app.test_request_context("/", method="POST", data={"token": sent}):
        form = TokenForm(meta={"csrf": False})
        token = form.submitted_token()
    if kept:
        assert token == TOKEN
        assert form.token.data == TOKEN
    else:
        assert token is None
        assert form.token.data != sent
        assert re.fullmatch(r"[A-Za-z0-9_-]{32}", form.token.data)


# --- /track ------------------------------------------------------------------------------------


def _issue_notice(app, title: str) -> str:
    staff = app.test_client()
    login(staff, "a1.admin")
    response = staff.post("/s/a1/noticeboard/new", data={"title": title})
    assert response.status_code == 201
    code = response.get_data(as_text=True)
    assert CODE.match(code)
    return code


def test_track_dispatches_to_the_plugin_that_issued_the_code(app, client, county):
    code = _issue_notice(app, "开学通知")
    for typed in (code, code.lower().replace("-", " ")):
        response = client.post("/track", data={"code": typed})
        assert response.status_code == 200
        assert response.get_data(as_text=True) == "tracked notice: 开学通知"


def test_track_ignores_receipts_no_plugin_claims(client, county, ctx):
    code = receipts.issue("uninstalled", 1, county.a1.id)
    db.session.commit()
    response = client.post("/track", data={"code": code}, headers={"Accept-Language": "en"})
    assert response.status_code == 200
    assert NO_MATCH in response.get_data(as_text=True)


def test_track_answers_no_such_code_when_the_issuing_plugin_is_switched_off(app, client, county):
    code = _issue_notice(app, "开学通知")
    with app.app_context(), tenancy.system_scope():
        plugins.set_enabled(db.session.get(Organisation, county.a1.id), "noticeboard", False)
        db.session.commit()
    response = client.post("/track", data={"code": code}, headers={"Accept-Language": "en"})
    body = unescape(response.get_data(as_text=True))
    assert "tracked notice" not in body
    assert NO_MATCH in body


def test_track_asks_only_the_plugin_named_on_the_receipt(app, client, county, ctx):
    """A receipt of another plugin is not shown by the notice board even for a matching id."""
    _issue_notice(app, "开学通知")
    notice_id = db.session.scalar(sa.text("select max(id) from testplugin_notice"))
    code = receipts.issue("pledges", notice_id, county.a1.id)
    db.session.commit()
    response = client.post("/track", data={"code": code}, headers={"Accept-Language": "en"})
    assert "tracked notice" not in response.get_data(as_text=True)


@pytest.mark.parametrize("typed", ["abc", "0123-4567-89AB-CDEF-GHJK", "!!!!-????"])
def test_track_explains_a_wrong_or_malformed_code(app, client, county, typed):
    _issue_notice(app, "开学通知")
    english = client.post("/track", data={"code": typed}, headers={"Accept-Language": "en"})
    assert english.status_code == 200
    body = unescape(english.get_data(as_text=True))
    assert NO_MATCH in body
    assert f'value="{typed}"' in body  # the input is kept
    assert "开学通知" not in body
    chinese = client.post("/track", data={"code": typed}, headers={"Accept-Language": "zh-CN"})
    body = unescape(chinese.get_data(as_text=True))
    assert '<html lang="zh-Hans">' in body
    translated = Translations.load(str(ROOT / "translations"), ["zh_Hans"]).gettext(NO_MATCH)
    if translated != NO_MATCH:
        assert translated in body
        assert NO_MATCH not in body


def test_track_requires_a_code(client, county):
    response = client.post("/track", data={"code": ""}, headers={"Accept-Language": "en"})
    assert response.status_code == 200
    assert "Enter the receipt code." in response.get_data(as_text=True)


# --- export ------------------------------------------------------------------------------------

HEADERS = ["学校", "Title", "Count"]
ROWS = [["嘉鱼县实验小学", "开学通知, \"重要\"", 3], ["a2学校", "line one\nline two", 0]]


def test_csv_starts_with_a_bom_and_round_trips_chinese():
    body = csv_bytes(HEADERS, ROWS)
    assert body.startswith(b"\xef\xbb\xbf")
    assert not body.startswith(b"\xef\xbb\xbf\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(body.decode("utf-8-sig"), newline="")))
    assert rows == [HEADERS, ["嘉鱼县实验小学", "开学通知, \"重要\"", "3"],
                    ["a2学校", "line one\nline two", "0"]]


@pytest.mark.parametrize("value", ["=1+1", "+86 123", "-2+3", "@SUM(A1:A2)", "\t=x", "\r=x",
                                   "=HYPERLINK(\"http://evil.example\")"])
def test_formula_cells_are_neutralised(value):
    text = csv_bytes(["h"], [[value]]).decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(text, newline="")))
    assert rows[1] == ["'" + value]
    sheet = openpyxl.load_workbook(io.BytesIO(xlsx_bytes("t", ["h"], [[value]]))).active
    # The value comes back whole: lxml writes a carriage return as "&#13;" (the standard
    # library's writer left it raw, and a reader took it for a line feed).
    assert sheet["A2"].value == "'" + value
    assert sheet["A2"].data_type == "s"


def test_plain_values_are_left_alone():
    rows = [["a=b", "x-1", 5, -5, 2.5, None, "中文"]]
    parsed = list(csv.reader(io.StringIO(csv_bytes(list("abcdefg"), rows).decode("utf-8-sig"))))
    assert parsed[1] == ["a=b", "x-1", "5", "-5", "2.5", "", "中文"]
    sheet = openpyxl.load_workbook(io.BytesIO(xlsx_bytes("t", list("abcdefg"), rows))).active
    assert [c.value for c in sheet[2]] == ["a=b", "x-1", 5, -5, 2.5, None, "中文"]


def test_xlsx_rows_are_written_through_lxml():
    # openpyxl writes a write-only sheet's cells with lxml when lxml is installed (a
    # dependency for that): a 100,000-row export's cells went ~1.6 times faster.
    from openpyxl.cell import _writer

    assert _writer.write_cell is _writer.lxml_write_cell


def test_xlsx_opens_with_the_header_row_and_chinese_text(app):
    with app.test_request_context():
        response = table_response("意见汇总", HEADERS, ROWS, "xlsx")
    assert response.mimetype == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    workbook = openpyxl.load_workbook(io.BytesIO(response.get_data()))
    sheet = workbook.active
    assert sheet.title == "意见汇总"
    assert [c.value for c in sheet[1]] == HEADERS
    assert [c.value for c in sheet[2]] == ROWS[0]
    assert sheet["B3"].value == "line one\nline two"
    assert sheet.freeze_panes == "A2"
    disposition = response.headers["Content-Disposition"]
    assert disposition.startswith("attachment;")
    assert unquote(disposition.split("filename*=UTF-8''")[1]) == "意见汇总.xlsx"


def test_csv_response_is_a_utf8_download(app):
    with app.test_request_context():
        response = table_response("report 报表", HEADERS, ROWS, "csv")
    assert response.mimetype == "text/csv"
    assert response.mimetype_params["charset"] == "utf-8"
    assert response.headers["Cache-Control"] == "no-store"
    assert 'filename="report .csv"' in response.headers["Content-Disposition"]
    assert response.get_data().startswith(b"\xef\xbb\xbf")


def test_csv_streams_row_by_row(app):
    """The CSV body is a generator that reads the rows as it is sent, not one big bytes."""
    read = []

    def rows():
        for n in range(5000):
            read.append(n)
            yield [n, f"第{n}行"]

    with app.test_request_context():
        response = table_response("big", ["n", "文字"], rows(), "csv")
    assert response.is_streamed
    assert not isinstance(response.response, (bytes, list, tuple))
    assert read == []  # nothing read before the body is sent
    chunks = iter(response.response)
    first = next(chunks)
    assert first.startswith(b"\xef\xbb\xbf")
    assert 0 < len(read) < 5000
    body = first + b"".join(chunks)
    assert len(read) == 5000
    parsed = list(csv.reader(io.StringIO(body.decode("utf-8-sig"), newline="")))
    assert parsed[0] == ["n", "文字"]
    assert parsed[-1] == ["4999", "第4999行"]
    assert body == csv_bytes(["n", "文字"], ([n, f"第{n}行"] for n in range(5000)))


def test_xlsx_is_sent_from_a_file_in_pieces(app):
    rows = ([n, f"文字{n * 7919 % 100003}"] for n in range(20000))
    with app.test_request_context():
        response = table_response("big", ["n", "文字"], rows, "xlsx")
    assert response.is_streamed
    assert not isinstance(response.response, (bytes, list, tuple))
    chunks = list(response.response)
    assert len(chunks) > 1
    assert response.content_length == sum(len(c) for c in chunks)
    sheet = openpyxl.load_workbook(io.BytesIO(b"".join(chunks))).active
    assert sheet.max_row == 20001
    assert sheet["A20001"].value == 19999
    assert sheet.freeze_panes == "A2"


def test_unknown_export_format_is_refused(app):
    with app.test_request_context(), pytest.raises(ValueError, match="pdf"):
        table_response("x", ["a"], [], "pdf")


# --- pagination ---------------------------------------------------------------------------------


def _page(app, query: str, per_page: int = 2):
    statement = sa.select(Organisation).order_by(Organisation.slug)
    with app.test_request_context(f"/?{query}"):
        page = paginate(statement, per_page=per_page)
        return page.page, page.pages, [org.slug for org in page.items]


@pytest.mark.parametrize(("query", "expected"), [
    ("", (1, 3, ["a1", "a2"])),
    ("page=2", (2, 3, ["b1", "city"])),
    ("page=3", (3, 3, ["county-a", "county-b"])),
    ("page=0", (1, 3, ["a1", "a2"])),
    ("page=-4", (1, 3, ["a1", "a2"])),
    ("page=abc", (1, 3, ["a1", "a2"])),
    ("page=99", (3, 3, ["county-a", "county-b"])),
    ("page=99999999999999999999", (3, 3, ["county-a", "county-b"])),
])
def test_paginate_clamps_out_of_range_pages(app, county, ctx, query, expected):
    assert _page(app, query) == expected


def test_paginate_an_empty_list(app, ctx):
    assert _page(app, "page=5") == (1, 0, [])
