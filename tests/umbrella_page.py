"""Read the umbrella view's table as a test sees it: each row's cells with their links."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from html import unescape
from html.parser import HTMLParser
from typing import Any

import sqlalchemy as sa

from kaimen.extensions import db


@dataclass
class Cell:
    text: str = ""
    href: str | None = None


@dataclass
class Row:
    head: Cell
    cells: list[Cell] = field(default_factory=list)


class _Reader(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.inside = False
        self.headings: list[str] = []
        self.rows: list[Row] = []
        self.cell: Cell | None = None
        self.in_head_row = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "table" and values.get("id") == "umbrella":
            self.inside = True
        if not self.inside:
            return
        if tag == "tr":
            self.in_head_row = False
        if tag in ("th", "td"):
            self.cell = Cell()
            if tag == "th" and values.get("scope") == "row":
                self.rows.append(Row(self.cell))
                self.in_head_row = True
            elif tag == "td" and self.rows and self.in_head_row:
                self.rows[-1].cells.append(self.cell)
            elif tag == "th" and values.get("scope") == "col":
                self.headings.append("")
        if tag == "a" and self.cell is not None and self.cell.href is None:
            self.cell.href = unescape(values.get("href") or "")

    def handle_endtag(self, tag: str) -> None:
        if tag == "table":
            self.inside = False
        if tag in ("th", "td"):
            self.cell = None

    def handle_data(self, data: str) -> None:
        if self.cell is not None:
            self.cell.text += data.strip()


def read(page: str) -> dict[str, Row]:
    """Return the umbrella table's rows by the school's name (the totals under "Total")."""
    reader = _Reader()
    reader.feed(page)
    return {re.sub(r"\s*Yours$", "", row.head.text): row for row in reader.rows}


def columns(page: str) -> list[str]:
    """Return the column headings after "School", as "table title · heading"."""
    titles = re.findall(r'<th scope="colgroup" colspan="(\d+)">(?:<a[^>]*>)?([^<]*)', page)
    headings = re.findall(r'<th scope="col"[^>]*><a href="[^"]*">([^<]*)</a>',
                          page.split('id="umbrella"', 1)[1])[1:]
    out, position = [], 0
    for span, title in titles:
        for heading in headings[position:position + int(span)]:
            out.append(f"{unescape(title)} · {unescape(heading)}")
        position += int(span)
    return out


def cell(page: str, school: str, table: str, heading: str) -> Cell:
    """Return the cell of ``school``'s row (or "Total") under ``heading`` of the table whose
    title starts with ``table``."""
    names = columns(page)
    index = next(i for i, name in enumerate(names)
                 if name.startswith(table) and name.endswith(f" · {heading}"))
    return read(page)[school].cells[index]


def get_counting(client: Any, url: str, headers: dict[str, str]) -> tuple[Any, list[str]]:
    """GET ``url``; return the response (a 200) and the SQL statements it sent."""
    statements: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement)

    sa.event.listen(db.engine, "before_cursor_execute", record)
    try:
        response = client.get(url, headers=headers)
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", record)
    assert response.status_code == 200
    return response, statements
