"""No student or guardian name, number or phone above the school: a canary walk.

Canary names and phone numbers are planted in a1's roster and visits; every
bureau-level page and download is fetched by every bureau role, the audit and
outbox tables are read whole, and the logs of all of it are captured. None of
the canaries may appear anywhere.
"""

from __future__ import annotations

import io
import logging
import zipfile

import sqlalchemy as sa
from click.testing import CliRunner
from conftest import login

from blueprints.homevisits import roster, services
from kaimen.audit import AuditEvent
from kaimen.extensions import db
from kaimen.notify import Notification

from .conftest import english, visit_values

CANARY_NAME, CANARY_GUARDIAN = "金丝雀甲", "Canarius Guardian"
CANARY_NUMBER, CANARY_PHONE = "CANARY-4711", "139 4711 0815"
CANARIES = [CANARY_NAME, CANARY_GUARDIAN, CANARY_NUMBER, CANARY_PHONE, "13947110815"]
BUREAU_USERS = ["a.admin", "a.supervisor", "a.leader", "a.unit", "city.supervisor"]


def plant(hv) -> None:
    content = ("学号,姓名,年级,班级,监护人1,关系1,电话1\n"
               f"{CANARY_NUMBER},{CANARY_NAME},七年级,1班,{CANARY_GUARDIAN},母亲,{CANARY_PHONE}\n")
    report = roster.import_roster(hv.county.a1, hv.year, "canary.csv", content.encode())
    assert report.ok, report.problems
    db.session.flush()
    student = services.db.session.scalar(sa.select(roster.Student).where(
        roster.Student.number == CANARY_NUMBER))
    visit = services.log_visit(hv.county.a1, hv.teacher, student, visit_values(
        hv.today, "in_person", follow_up="回访", follow_up_due=hv.today))
    services.change_visit(hv.county.a1, visit, hv.teacher, visit_values(
        hv.today, "in_person", follow_up="回访", follow_up_due=hv.today, summary="已回访"))
    db.session.commit()


def readable(body: bytes) -> str:
    """Return a response body as text, the sheets of an .xlsx download included."""
    if body[:2] == b"PK":
        with zipfile.ZipFile(io.BytesIO(body)) as archive:
            return "".join(archive.read(name).decode("utf-8", "replace")
                           for name in archive.namelist())
    return body.decode("utf-8", "replace")


def bureau_urls(app) -> list[str]:
    """Return every GET URL that names a bureau and no school or object."""
    adapter = app.url_map.bind("localhost")
    urls = []
    for rule in app.url_map.iter_rules():
        if "GET" not in rule.methods or set(rule.arguments) - {"bureau", "fmt"}:
            continue
        if "bureau" in rule.arguments:
            values = {"bureau": "county-a", **(rule.defaults or {})}
            urls.append(adapter.build(rule.endpoint, values))
    return sorted(set(urls))


def test_no_canary_leaves_the_school(app, hv, caplog):
    caplog.set_level(logging.DEBUG)
    plant(hv)
    urls = bureau_urls(app)
    assert "/b/county-a/homevisits/" in urls
    assert "/b/county-a/homevisits/export.xlsx" in urls
    assert "/b/county-a/" in urls  # the umbrella view, where kaimen_bureau_metrics shows
    seen, fetched = [], 0
    for username in BUREAU_USERS:
        client = english(app.test_client())
        login(client, username)
        for url in urls:
            response = client.get(url)
            if response.status_code == 200:
                fetched += 1
                text = readable(response.data)
                seen += [(username, url, c) for c in CANARIES if c in text]
    assert fetched >= len(BUREAU_USERS) * 3
    audit = " ".join(repr(row) for row in db.session.execute(sa.select(AuditEvent.__table__)))
    outbox = " ".join(repr(row) for row in db.session.execute(sa.select(Notification.__table__)))
    assert "homevisits.visit_logged" in audit
    assert "homevisits.roster_imported" in audit
    seen += [("audit", "", c) for c in CANARIES if c in audit]
    seen += [("outbox", "", c) for c in CANARIES if c in outbox]
    seen += [("log", "", c) for c in CANARIES if c in caplog.text]
    assert seen == []


def test_the_roster_command_reports_without_names(app, hv, tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("学号,姓名,年级,班级,电话1\n"
                   f"{CANARY_NUMBER},{CANARY_NAME},七年级,9班,{CANARY_PHONE}\n", encoding="utf-8")
    result = CliRunner().invoke(app.cli, ["kaimen", "homevisits", "import-roster", "a1",
                                          str(bad)], catch_exceptions=False)
    assert result.exit_code == 1
    assert "row 2" in result.output
    assert not [c for c in CANARIES if c in result.output]
