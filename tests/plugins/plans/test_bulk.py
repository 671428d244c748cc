"""The ledger's spreadsheet round trip: exported, edited as a person would, read back."""

from __future__ import annotations

import io
from datetime import datetime

import sqlalchemy as sa
from openpyxl import load_workbook

from blueprints.plans.models import Measure
from kaimen.extensions import db

from .conftest import done_with_evidence


def exported(client) -> object:
    response = client.get("/s/a1/plans/ledger/export")
    assert response.status_code == 200
    return load_workbook(io.BytesIO(response.data))


def send(client, workbook, name: str = "ledger.xlsx"):
    buffer = io.BytesIO()
    workbook.save(buffer)
    buffer.seek(0)
    return client.post("/s/a1/plans/ledger/import", data={"upload": (buffer, name)},
                       content_type="multipart/form-data", follow_redirects=True)


def statuses() -> dict[int, str]:
    db.session.expire_all()
    rows = db.session.execute(sa.select(Measure.id, Measure.status))
    return {item: status for item, status in rows}


def test_an_edited_file_moves_the_items(approved, client, as_user):
    as_user("a1.admin")
    book = exported(client)
    sheet = book.active
    ids = [row[0].value for row in sheet.iter_rows(min_row=2)]
    assert sorted(ids) == sorted(m.id for m in approved.measures)
    sheet["G2"] = "In progress"
    sheet["I2"] = "Fees posted at the gate"
    sheet["G3"] = "基本完成"  # typed in the other language
    sheet["G4"] = "Done"
    sheet["F4"] = datetime(2026, 12, 24)  # a deadline retyped as a date: not imported
    sheet.insert_rows(3)  # an empty row in the middle
    sheet.column_dimensions["D"].width = 80
    page = send(client, book).get_data(as_text=True)
    assert "3 items were updated." in page
    assert "3 items: 1 done, 1 basically done, 1 in progress" in page
    moved = statuses()
    assert [moved[i] for i in ids] == ["in_progress", "basically_done", "done"]
    first = db.session.get(Measure, ids[0])
    assert first.notes[0].text == "Fees posted at the gate"


def test_a_bad_file_imports_nothing_and_names_the_rows(approved, county, client, as_user):
    signed = approved.measures[2]
    done_with_evidence(signed, county.users["a1.admin"])
    signed.signed_off_at = datetime(2026, 12, 1)
    db.session.commit()
    as_user("a1.admin")
    book = exported(client)
    sheet = book.active
    rows = {row[0].value: row[0].row for row in sheet.iter_rows(min_row=2)}
    sheet.cell(rows[approved.measures[0].id], 7, "Done")  # fine on its own
    sheet.cell(rows[signed.id], 7, "In progress")  # a signed-off item moved by the school
    sheet.cell(rows[approved.measures[1].id], 8, "Yes")  # signed off by the school
    sheet.append([99999, "", "", "", "", "", "Done", "", ""])  # no such item
    before = statuses()
    page = send(client, book).get_data(as_text=True)
    assert "Nothing was imported" in page
    assert f"Row {rows[signed.id]}: Item {signed.id} is signed off" in page
    school_signed = approved.measures[1].id
    assert f"Row {rows[school_signed]}: Item {school_signed}: only the bureau" in page
    assert "Unknown item “99999”." in page
    assert statuses() == before


def test_a_csv_file_is_read_too(approved, client, as_user):
    as_user("a1.admin")
    text = client.get("/s/a1/plans/ledger/export?format=csv").data.decode("utf-8-sig")
    lines = text.splitlines()
    first = lines[1].split(",")
    first[6] = "In progress"
    lines[1] = ",".join(first)
    data = ("\n".join(lines) + "\n,,,,,,,,\n").encode("utf-8-sig")
    page = client.post("/s/a1/plans/ledger/import",
                       data={"upload": (io.BytesIO(data), "ledger.csv")},
                       content_type="multipart/form-data", follow_redirects=True)
    assert "1 items were updated." in page.get_data(as_text=True)


def test_a_file_that_is_not_a_spreadsheet_is_refused(approved, client, as_user):
    as_user("a1.admin")
    page = client.post("/s/a1/plans/ledger/import",
                       data={"upload": (io.BytesIO(b"not a workbook"), "ledger.xlsx")},
                       content_type="multipart/form-data", follow_redirects=True)
    assert "This is not an Excel (.xlsx) or CSV file." in page.get_data(as_text=True)


def test_a_teacher_cannot_import(approved, client, as_user):
    as_user("a1.teacher")
    assert client.post("/s/a1/plans/ledger/import").status_code == 403


def test_a_file_over_5_mb_is_refused(approved, client, as_user):
    as_user("a1.admin")
    big = io.BytesIO(b"0" * (5 * 1024 * 1024 + 1))
    page = client.post("/s/a1/plans/ledger/import", data={"upload": (big, "ledger.csv")},
                       content_type="multipart/form-data", follow_redirects=True)
    assert "The file is larger than 5 MB." in page.get_data(as_text=True)
