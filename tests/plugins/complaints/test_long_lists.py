"""Long case lists: keyset pages, bad cursors, isolation, and exports equal to the list."""

from __future__ import annotations

import base64
import csv
import html
import io
import json
import re
from datetime import date, datetime, timedelta

import openpyxl
import pytest
import sqlalchemy as sa

from blueprints.complaints.models import Complaint, with_leadership
from kaimen import tenancy
from kaimen.extensions import db
from kaimen.pagination import _encode

ROW_ID = re.compile(r'<td class="muted">#(\d+)</td>')
NEXT = re.compile(r'<a rel="next" href="([^"]+)"')
PREV = re.compile(r'<a rel="prev" href="([^"]+)"')


def _cases(school, count, *, start, status="received", subject="长名单意见"):
    """Return rows for a bulk insert: two cases per timestamp, so ids break the ties."""
    return [{"school_id": school.id, "kind": "complaint", "category": "conduct",
             "channel": "online", "subject": f"{subject}{n}", "description": "内容",
             "anonymous": True, "about_leadership": n % 9 == 0, "status": status,
             "handled_by_bureau": False, "created_at": start + timedelta(minutes=n // 2),
             "received_on": date(2026, 3, 1), "ack_due": date(2026, 3, 4),
             "answer_due": date(2026, 3, 16), "flagged_for_bureau": False, "urged_count": 0,
             "content_digest": ""} for n in range(count)]


@pytest.fixture
def many(app, county):
    """61 received cases in a1 and a2 (bureau A), closed ones between, and b1's (bureau B)."""
    start = datetime(2026, 3, 1, 8, 0)
    with app.app_context(), tenancy.system_scope():
        rows = (_cases(county.a1, 31, start=start) + _cases(county.a2, 30, start=start)
                + _cases(county.a1, 12, start=start, status="closed")
                + _cases(county.b1, 30, start=start, subject="别的教育局"))
        db.session.execute(sa.insert(Complaint), rows)
        db.session.commit()
    return county


def _expected(app, school_ids, status="received", leadership=True):
    with app.app_context(), tenancy.system_scope():
        statement = sa.select(Complaint.id).where(Complaint.school_id.in_(school_ids),
                                                  Complaint.status == status)
        if leadership:
            statement = with_leadership(statement)
        else:
            statement = statement.where(Complaint.about_leadership.is_(False))
        return list(db.session.scalars(
            statement.order_by(Complaint.created_at.desc(), Complaint.id.desc())))


def _walk(client, url, link=NEXT):
    """Follow the pager from ``url``; return the ids of every page and the URLs visited."""
    ids, urls = [], []
    while url:
        response = client.get(url)
        assert response.status_code == 200, url
        text = response.get_data(as_text=True)
        ids.append([int(i) for i in ROW_ID.findall(text)])
        urls.append(url)
        found = link.search(text)
        url = html.unescape(found.group(1)) if found else None
    return ids, urls


def test_keyset_pages_cover_every_row_once_in_order_with_filters(app, many, as_user):
    client = as_user("a.supervisor")
    expected = _expected(app, [many.a1.id, many.a2.id])
    pages, urls = _walk(client, "/b/county-a/complaints/?status=received")
    assert [len(p) for p in pages] == [25, 25, 11]
    assert [i for p in pages for i in p] == expected
    assert all("status=received" in u for u in urls)  # the links keep the filter
    assert "after=" in urls[1]
    assert "page=2" in urls[1]
    assert "page=3" in urls[2]
    last = client.get(urls[2]).get_data(as_text=True)
    assert "第 3 页，共 3 页" in last or "Page 3 of 3" in last
    # and back again with the "previous" links, ending on page 1 without a cursor
    back, back_urls = _walk(client, urls[2], PREV)
    assert back == pages[::-1]
    assert "before=" in back_urls[1]
    assert "before=" not in back_urls[2]


def test_school_list_walks_its_own_rows_only(app, many, as_user):
    client = as_user("a1.admin")
    pages, _urls = _walk(client, "/s/a1/complaints/cases?status=received")
    assert [i for p in pages for i in p] == _expected(app, [many.a1.id], leadership=False)


def _cursor_of(app, school, status="received"):
    with app.app_context(), tenancy.system_scope():
        row = db.session.execute(with_leadership(
            sa.select(Complaint.created_at, Complaint.id)
            .where(Complaint.school_id == school.id, Complaint.status == status)
            .order_by(Complaint.id).limit(1).offset(10))).one()
    return _encode(list(row))


def test_a_cursor_from_another_bureau_shows_only_own_rows(app, many, as_user):
    client = as_user("a.supervisor")
    cursor = _cursor_of(app, many.b1)
    own = set(_expected(app, [many.a1.id, many.a2.id]))
    for name in ("after", "before"):
        text = client.get(f"/b/county-a/complaints/?status=received&{name}={cursor}&page=2")
        assert text.status_code == 200
        ids = {int(i) for i in ROW_ID.findall(text.get_data(as_text=True))}
        assert ids
        assert ids <= own
        assert "别的教育局" not in text.get_data(as_text=True)
    # a school's account with a cursor from its neighbour school still sees its own rows only
    school = as_user("a1.admin").get(
        f"/s/a1/complaints/cases?status=received&after={_cursor_of(app, many.a2)}")
    ids = {int(i) for i in ROW_ID.findall(school.get_data(as_text=True))}
    assert ids
    assert ids <= set(_expected(app, [many.a1.id], leadership=False))


def _b64(value):
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")


@pytest.mark.parametrize("cursor", [
    "x", "%%%", "AAAA", "not base64!", _b64([1]), _b64({"a": 1}), _b64(["2026-01-01", 1, 2]),
    _b64([1, 2]), _b64(["yesterday", 1]), _b64(["2026-03-01T08:00:00+08:00", 5]),
    _b64(["2026-03-01T08:00:00", "5"]), _b64(["2026-03-01T08:00:00", 2**70]),
    _b64(["2026-03-01T08:00:00", True]), _b64(["2026-03-01\x00", 1]), "A" * 5000,
    _b64(["9999-12-31T23:59:59", -(2**63) + 1]), _b64(["2026-03-01T08:00:00", 2**31]),
    _b64(["0001-01-01T00:00:00", 2**31 - 1]),
])
def test_bad_cursors_answer_a_page_never_a_500(app, many, as_user, cursor):
    client = as_user("a.supervisor")
    first = _expected(app, [many.a1.id, many.a2.id])
    for name in ("after", "before"):
        response = client.get(f"/b/county-a/complaints/?status=received&{name}={cursor}")
        assert response.status_code in (200, 400, 404)
        ids = [int(i) for i in ROW_ID.findall(response.get_data(as_text=True))]
        assert set(ids) <= set(first)


def test_a_cursor_past_the_end_shows_the_last_page(app, many, as_user):
    client = as_user("a.supervisor")
    cursor = _encode([datetime(2000, 1, 1), 1])
    text = client.get(f"/b/county-a/complaints/?status=received&after={cursor}&page=9")
    ids = [int(i) for i in ROW_ID.findall(text.get_data(as_text=True))]
    assert ids == _expected(app, [many.a1.id, many.a2.id])[50:]


def test_the_export_holds_exactly_what_the_list_shows(app, many, as_user):
    client = as_user("a.supervisor")
    pages, _urls = _walk(client, "/b/county-a/complaints/?status=received")
    listed = [i for p in pages for i in p]
    body = client.get("/b/county-a/complaints/export.csv?status=received").get_data()
    rows = list(csv.reader(io.StringIO(body.decode("utf-8-sig"), newline="")))
    assert body.startswith(b"\xef\xbb\xbf")
    assert [int(r[0]) for r in rows[1:]] == listed
    sheet = openpyxl.load_workbook(io.BytesIO(
        client.get("/b/county-a/complaints/export.xlsx?status=received").get_data())).active
    assert [row[0] for row in sheet.iter_rows(min_row=2, values_only=True)] == listed
    assert [c.value for c in sheet[1]] == rows[0]


TOTAL = re.compile(r"共 (\d+) 条意见|(\d+) opinions?\b")


def _total_and_counts(app, client, url):
    """Return the list's total as shown, and how many counts of cases the request ran."""
    counts = []

    def note(_conn, _cursor, statement, *_args):
        if "count(" in statement.lower() and "complaint" in statement:
            counts.append(statement)

    with app.app_context():
        engine = db.engine
    sa.event.listen(engine, "before_cursor_execute", note)
    try:
        response = client.get(url)
    finally:
        sa.event.remove(engine, "before_cursor_execute", note)
    assert response.status_code == 200
    found = TOTAL.search(response.get_data(as_text=True))
    assert found, url
    return int(found.group(1) or found.group(2)), len(counts), response.get_data(as_text=True)


def test_the_count_is_read_once_while_pages_turn_and_afresh_after_any_write(
        app, many, as_user):
    client = as_user("a.supervisor")
    url = "/b/county-a/complaints/?status=received"
    total, counted, text = _total_and_counts(app, client, url)
    assert (total, counted) == (61, 1)
    second = html.unescape(NEXT.search(text).group(1))
    assert _total_and_counts(app, client, second)[:2] == (61, 0)  # the same list: kept
    assert _total_and_counts(app, client, f"{url}&page=3")[:2] == (61, 0)
    # another filter is another count
    assert _total_and_counts(app, client, "/b/county-a/complaints/?status=closed")[:2] == (12, 1)

    # a case filed through the ORM (a flush, then the commit) is counted at once
    with app.app_context(), tenancy.system_scope():
        db.session.add(Complaint(**_cases(many.a2, 1, start=datetime(2026, 4, 1))[0]))
        db.session.commit()
    assert _total_and_counts(app, client, second)[:2] == (62, 1)
    # and so is one written by a bulk insert, which skips the flush
    with app.app_context(), tenancy.system_scope():
        db.session.execute(sa.insert(Complaint), _cases(many.a1, 2, start=datetime(2026, 4, 2)))
        db.session.commit()
    assert _total_and_counts(app, client, url)[:2] == (64, 1)
    # and a bulk update moving cases out of the filter
    with app.app_context(), tenancy.system_scope():
        db.session.execute(with_leadership(sa.update(Complaint).where(
            Complaint.school_id == many.a1.id, Complaint.status == "received",
            Complaint.created_at >= datetime(2026, 4, 2)).values(status="closed")))
        db.session.commit()
    assert _total_and_counts(app, client, url)[:2] == (62, 1)
    # a school's list is counted under its own scope: not the bureau's number
    school = as_user("a1.admin")
    expected = len(_expected(app, [many.a1.id], leadership=False))
    assert _total_and_counts(app, school, "/s/a1/complaints/cases?status=received")[:2] == \
        (expected, 1)


def test_a_count_is_not_kept_without_the_page_cache(app, many, as_user):
    app.config["PAGE_CACHE"] = False  # restored by the app fixture
    client = as_user("a.supervisor")
    url = "/b/county-a/complaints/?status=received"
    assert _total_and_counts(app, client, url)[:2] == (61, 1)
    assert _total_and_counts(app, client, url)[:2] == (61, 1)


@pytest.mark.parametrize("query", ["status=received", "status=received&school={a2}", ""])
def test_typed_page_numbers_show_the_rows_the_pager_reaches(app, many, as_user, query):
    client = as_user("a.supervisor")
    query = query.format(a2=many.a2.id)
    pages, _urls = _walk(client, f"/b/county-a/complaints/?{query}")
    assert len(pages) > 1
    for number, rows in enumerate(pages, start=1):
        typed = client.get(f"/b/county-a/complaints/?{query}&page={number}")
        assert [int(i) for i in ROW_ID.findall(typed.get_data(as_text=True))] == rows
    # past the end: the last page
    beyond = client.get(f"/b/county-a/complaints/?{query}&page=999")
    assert [int(i) for i in ROW_ID.findall(beyond.get_data(as_text=True))] == pages[-1]


def test_a_bureau_page_reads_its_bureaus_once_and_no_owner_grants(app, many, as_user):
    """The bureau's list names each person in charge: their role grants are not loaded, and
    the bureaus under the bureau are read once for the scope and the school filter alike."""
    from kaimen.auth.models import User

    with app.app_context(), tenancy.system_scope():
        owner = db.session.scalar(sa.select(User).where(User.username == "a1.admin"))
        db.session.execute(sa.update(Complaint).where(Complaint.school_id == many.a1.id)
                           .values(owner_id=owner.id, status="accepted"))
        db.session.commit()
    client = as_user("a.supervisor")
    client.get("/b/county-a/complaints/")  # the login's own first page out of the way
    statements: list[str] = []

    def note(_conn, _cursor, statement, *_rest):
        statements.append(" ".join(statement.split()))

    sa.event.listen(db.engine, "before_cursor_execute", note)
    try:
        page = client.get("/b/county-a/complaints/").get_data(as_text=True)
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", note)
    assert "a1.admin" in page or owner.display_name in page  # the owners are on the page
    grants = [s for s in statements if "FROM role_grant" in s]
    assert len(grants) == 1, grants  # the viewer's own, to know what they may see
    under = "SELECT organisation.id FROM organisation WHERE organisation.parent_id"
    below = [s for s in statements if s.startswith(under)]
    assert len(below) == 2, below  # the bureaus under it (one level here), its schools' ids
