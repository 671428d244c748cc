"""The bureau's umbrella view: one table of every school with every plugin's figures.

Filters come from the ``kaimen_school_groups`` hook (a plugin offers "linked leader"
and "packaging unit" without the core knowing it) and from the core's school type
(the grades a school teaches this year). The metric hooks are asked about the
schools shown, so totals are totals of what is shown and the export holds exactly
the page's rows, in the page's order. A fixed number of queries, whatever the number
of schools: each hook answers for all of them at once.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from flask import current_app, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel.speaklater import LazyString
from markupsafe import Markup, escape

from .. import orgs, plugins
from ..auth.access import schools_where
from ..classes.models import SchoolClass
from ..classes.services import current_year
from ..extensions import db
from ..plugins import GroupOption, MetricTable, SchoolGroup
from ..tenancy import all_schools

SCHOOL_TYPES = {
    "primary": _l("Primary school"),
    "junior": _l("Junior secondary school"),
    "senior": _l("Senior secondary school"),
    "through": _l("Through-train school"),
}
_NUMBER = re.compile(r"^-?[0-9][0-9,]*(\.[0-9]+)?%?$")


@dataclass
class Column:
    """One column of the umbrella table: the plugin table it comes from and its heading."""

    table: MetricTable
    index: int
    heading: Any


@dataclass
class Umbrella:
    """What the umbrella page (and its export) shows."""

    schools: list[orgs.Organisation]
    tables: list[MetricTable]
    groups: list[SchoolGroup]
    chosen: dict[str, str]
    sort: int
    descending: bool
    mine: set[int] = field(default_factory=set)
    desks: set[int] = field(default_factory=set)  # schools whose desk the viewer may open

    @property
    def columns(self) -> list[Column]:
        return [Column(t, i, heading) for t in self.tables for i, heading in enumerate(t.columns)]

    def cells(self, school: orgs.Organisation) -> list[Any]:
        """Return the school's figures in column order ("" where a plugin is off for it)."""
        out: list[Any] = []
        for table in self.tables:
            row = table.rows.get(school.id)
            out += list(row) if row is not None else [""] * len(table.columns)
        return out

    def totals(self) -> list[Any]:
        out: list[Any] = []
        for table in self.tables:
            out += list(table.total) if table.total else [""] * len(table.columns)
        return out


def school_types(schools: Sequence[orgs.Organisation], bureau: orgs.Organisation) -> SchoolGroup:
    """Group the schools by the grades they teach this school year, in one query."""
    year = current_year(bureau)
    ranges: dict[int, tuple[int, int]] = {}
    if year is not None and schools:
        # The year is the bureau's, so its classes are of the bureau's schools: kept to
        # those asked about here rather than named in a thousand-id IN list.
        wanted = {s.id for s in schools}
        ranges = {
            school_id: (low, high)
            for school_id, low, high in db.session.execute(all_schools(
                sa.select(SchoolClass.school_id, sa.func.min(SchoolClass.grade),
                          sa.func.max(SchoolClass.grade))
                .where(SchoolClass.school_year_id == year.id)
                .group_by(SchoolClass.school_id)))
            if school_id in wanted
        }
    members: dict[str, set[int]] = {key: set() for key in SCHOOL_TYPES}
    for school_id, (low, high) in ranges.items():
        if high <= 6:
            members["primary"].add(school_id)
        elif low >= 10:
            members["senior"].add(school_id)
        elif low >= 7 and high <= 9:
            members["junior"].add(school_id)
        else:
            members["through"].add(school_id)
    return SchoolGroup("type", _l("School type"), [
        GroupOption(key, label, frozenset(members[key]))
        for key, label in SCHOOL_TYPES.items() if members[key]
    ], order=90)


def _sort_key(value: Any) -> tuple[int, Any]:
    """Numbers before text, "—" and blanks last; "85%" and "1,200" count as numbers."""
    if isinstance(value, bool):
        return (0, int(value))
    if isinstance(value, (int, float)):
        return (0, value)
    text = str(value).strip()
    if _NUMBER.match(text):
        return (0, float(text.rstrip("%").replace(",", "")))
    if text in ("", "—", "-"):
        return (2, "")
    return (1, text)


def _text(value: Any) -> Any:
    return str(value) if isinstance(value, LazyString) else value


def translate_once(table: MetricTable) -> None:
    """Turn ``table``'s lazy strings into text, once per request.

    A lazy string is translated again each time it is shown: the page shows a plugin's
    title in every cell and its words ("Yes", a plan's status) in every row, tens of
    thousands of catalogue look-ups at 1,000 schools.
    """
    table.title = _text(table.title)
    table.columns = [_text(heading) for heading in table.columns]
    words: dict[int, str] = {}  # a plugin puts the same lazy word in many rows: once each

    def text(cell: LazyString) -> str:
        word = words.get(id(cell))
        if word is None:
            word = words[id(cell)] = str(cell)
        return word

    table.rows = {school_id: [text(cell) if type(cell) is LazyString else cell for cell in row]
                  for school_id, row in table.rows.items()}
    if table.total is not None:
        table.total = [_text(cell) for cell in table.total]


def build(bureau: orgs.Organisation, user: Any, args: Any) -> Umbrella:
    """Return ``bureau``'s umbrella view for ``user``, filtered and ordered as ``args`` say."""
    every = orgs.schools_under(bureau)
    answers = plugins.state().manager.hook.kaimen_school_groups(bureau=bureau, user=user)
    groups = sorted([g for answer in answers for g in (answer or [])] + [
        school_types(every, bureau)], key=lambda g: g.order)
    groups = [g for g in groups if g.options]
    chosen: dict[str, str] = {}
    shown = {s.id for s in every}
    mine: set[int] = set()
    for group in groups:
        value = args.get(group.key, "")
        for option in group.options:
            if option.mine:
                mine |= option.school_ids
            if option.value == value:
                chosen[group.key] = value
                shown &= option.school_ids
    schools = [s for s in every if s.id in shown]
    tables = plugins.bureau_metrics(bureau, schools)
    for table in tables:
        translate_once(table)
    view = Umbrella(schools, tables, groups, chosen, sort=0, descending=False, mine=mine,
                    desks=schools_where(user, "school.desk", schools))
    sort = args.get("sort", type=int)
    view.descending = args.get("dir") == "desc"
    if sort is not None and 1 <= sort <= len(view.columns):
        view.sort = sort
        view.schools.sort(key=lambda s: _sort_key(view.cells(s)[sort - 1]),
                          reverse=view.descending)
    elif sort == 0:
        view.schools.sort(key=lambda s: s.slug, reverse=view.descending)
    else:
        view.schools.sort(key=lambda s: s.id not in mine)  # stable: by slug within
    return view


@dataclass(frozen=True)
class Heading:
    """A column heading of the page: a link that sorts by it (or reverses the order)."""

    label: Any
    url: str
    sorted: str | None  # "ascending", "descending" or None


def headings(view: Umbrella, bureau: orgs.Organisation, args: dict[str, str]) -> list[Heading]:
    """Return the sortable headings: the school name, then every plugin's columns."""
    out = []
    labels = [_l("School"), *[column.heading for column in view.columns]]
    for index, label in enumerate(labels):
        here = view.sort == index and (index > 0 or "sort" in args)
        direction = "asc" if here and view.descending else ("desc" if here else "asc")
        values: dict[str, Any] = args | {"sort": str(index), "dir": direction}
        url = url_for("core.bureau_home", bureau=bureau.slug, **values)
        out.append(Heading(label, url, ("descending" if view.descending else "ascending")
                           if here else None))
    return out


_SLUG = "kaimen-umbrella-slug"  # stands for a school's slug in a URL built once


def _school_url(endpoint: str) -> tuple[str, str]:
    """Return what comes before and after the school's slug in ``endpoint``'s URL."""
    before, after = url_for(endpoint, school=_SLUG).split(_SLUG, 1)
    return before, after


def _escaper() -> Callable[[Any], str]:
    """Return a function that escapes a figure, each distinct text once per page.

    The same words ("—", a leader's name, "Yes") fill many rows; numbers need no escaping.
    """
    escaped: dict[str, str] = {}

    def shown(value: Any) -> str:
        kind = type(value)
        if kind is int:
            return str(value)
        if kind is str:
            text = escaped.get(value)
            if text is None:
                text = escaped[value] = str(escape(value))
            return text
        return str(escape(value))

    return shown


def _attribute(url: str) -> str:
    """Return ``url`` escaped for an attribute; most need nothing (ten thousand a page)."""
    if "&" in url or '"' in url or "<" in url or ">" in url or "'" in url:
        return str(escape(url))
    return url


def table_rows(view: Umbrella, locale: str | None) -> Markup:
    """Return the table's rows as HTML, built in one pass: one row per school.

    Per distinct value once (each plugin's title, the school links' URL around the
    slug, the badge); per cell only the figure and its link. A template loop spent
    seconds here at 1,000 schools, on url_for, escaping and attribute look-ups.
    """
    desk, public_page = _school_url("core.school_desk"), _school_url("core.school_home")
    url_map = current_app.url_map
    quote_slug = url_map.converters["default"](url_map).to_url  # as url_for quotes it
    yours = escape(_("Yours"))  # outside the f-string, where pybabel finds it
    badge = f' <span class="badge">{yours}</span>'
    tables = []  # per table: its rows, the opening of its cells, its links, blank cells
    for table in view.tables:
        opening = f'<td data-metric="{escape(table.title)}">'
        links = ([table.links.get(index) for index in range(len(table.columns))]
                 if table.links else None)
        tables.append((table.rows, opening, links, f"{opening}</td>" * len(table.columns)))
    out: list[str] = []
    add = out.append
    shown = _escaper()
    for school in view.schools:
        school_id = school.id
        mine = school_id in view.mine
        before, after = desk if school_id in view.desks else public_page
        add('<tr class="mine">' if mine else "<tr>")
        add(f'<th scope="row"><a href="{escape(before + quote_slug(school.slug) + after)}">'
            f"{escape(school.display_name(locale))}</a>{badge if mine else ''}</th>\n")
        for rows, opening, links, blank in tables:
            row = rows.get(school_id)
            if not row:
                add(blank)
            elif links is not None:
                for value, build in zip(row, links, strict=False):
                    url = build(school) if build is not None else None
                    add(f'{opening}<a href="{_attribute(url)}">{shown(value)}</a></td>' if url
                        else f"{opening}{shown(value)}</td>")
            else:
                add("".join([f"{opening}{value if type(value) is int else shown(value)}</td>"
                             for value in row]))
        add("</tr>\n")
    return Markup("".join(out))  # noqa: S704 -- every value above went through escape()


def export_rows(view: Umbrella, locale: str | None) -> tuple[list[Any], list[list[Any]]]:
    """Return the headers and rows of the export: exactly what the page shows, totals last."""
    headers: list[Any] = [str(_l("School"))] + [
        f"{column.table.title} · {column.heading}" for column in view.columns]
    rows = [[s.display_name(locale), *view.cells(s)] for s in view.schools]
    rows.append([str(_l("Total")), *view.totals()])
    return headers, rows


@dataclass
class County:
    """A county bureau's line on a city bureau's view: its schools and its totals."""

    bureau: orgs.Organisation
    schools: int
    totals: list[Any]
    links: list[str | None] = field(default_factory=list)  # the list behind each total


def rollup(bureau: orgs.Organisation) -> tuple[list[Column], list[County]]:
    """Return, for a bureau with county bureaus below it, each county's totals.

    A fixed number of queries per county (each plugin answers for a county's schools
    at once), so a city's view grows with its counties, never with its schools.
    """
    counties = orgs.bureaus_below(bureau)
    columns: dict[tuple[Any, int], Column] = {}
    lines = []
    for county in counties:
        schools = orgs.schools_under(county)
        tables = plugins.bureau_metrics(county, schools)
        for table in tables:
            for index, heading in enumerate(table.columns):
                columns.setdefault((str(table.title), index), Column(table, index, heading))
        lines.append((county, len(schools), {
            (str(t.title), i): value for t in tables
            for i, value in enumerate(t.total or [])}, {
            (str(t.title), i): t.link(i, None) for t in tables for i in t.links}))
    keys = sorted(columns, key=lambda k: (columns[k].table.order, k))
    return ([columns[k] for k in keys],
            [County(county, count, [values.get(k, "") for k in keys],
                    [links.get(k) for k in keys])
             for county, count, values, links in lines])
