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
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, cast

import sqlalchemy as sa
from flask import current_app, request, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel.speaklater import LazyString
from markupsafe import Markup, escape

from .. import figures, orgs, plugins
from ..auth.access import schools_where
from ..classes.models import SchoolClass, SchoolYear
from ..extensions import db
from ..idlists import among
from ..pagecache import EPOCH, EVERYWHERE, PEOPLE, SchoolVersion
from ..plugins import GroupOption, MetricTable, SchoolGroup
from ..tenancy import all_schools
from ..timeutil import local_date, utcnow
from . import trends

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


@dataclass(frozen=True, slots=True)
class Shown:
    """An organisation as a kept view holds it: what its rows and links need.

    Never the ORM object: a kept view outlives the session that read it. A plugin's link
    builder (``MetricTable.links``) is handed one of these and reads ``id``, ``slug`` or
    ``parent_id``, as it would of the school.
    """

    id: int
    slug: str
    parent_id: int | None
    name: str  # in the view's locale

    @classmethod
    def of(cls, org: orgs.Organisation, locale: str | None) -> Shown:
        return cls(org.id, org.slug, org.parent_id, org.display_name(locale))


@dataclass
class Umbrella:
    """What the umbrella page (and its export) shows."""

    schools: list[Shown]
    tables: list[MetricTable]
    groups: list[SchoolGroup]
    chosen: dict[str, str]
    sort: int
    descending: bool
    mine: set[int] = field(default_factory=set)
    desks: set[int] = field(default_factory=set)  # schools whose desk the viewer may open
    charts: list[Any] = field(default_factory=list)
    until: datetime | None = None  # when a table's figures change with no write (UTC)
    # Filled as the view is shown and kept with it: shared by every copy a request sorts.
    kept: dict[str, Any] = field(default_factory=dict)

    @property
    def columns(self) -> list[Column]:
        return [Column(t, i, heading) for t in self.tables for i, heading in enumerate(t.columns)]

    def cells(self, school: Shown) -> list[Any]:
        """Return the school's figures in column order ("" where a plugin is off for it)."""
        known: dict[int, list[Any]] = self.kept.setdefault("cells", {})
        out = known.get(school.id)
        if out is None:
            out = []
            for table in self.tables:
                row = table.rows.get(school.id)
                out += list(row) if row is not None else [""] * len(table.columns)
            known[school.id] = out
        return out

    def totals(self) -> list[Any]:
        out: list[Any] = []
        for table in self.tables:
            out += list(table.total) if table.total else [""] * len(table.columns)
        return out

    def expired(self, now: datetime) -> bool:
        """Whether a figure shown (a table's, or a county's added since) changed with the
        clock alone since the view was made."""
        moments = [m for m in (self.until, self.kept.get("until")) if m is not None]
        return bool(moments) and now >= min(moments)

    def counties(self, bureau: orgs.Organisation, locale: str | None
                 ) -> tuple[list[Column], list[County]]:
        """Return ``rollup(bureau)``, made once for this view and kept with it."""
        if "counties" not in self.kept:
            moments: list[datetime] = []
            self.kept["counties"] = rollup(bureau, locale, moments)
            if moments:
                self.kept["until"] = min(moments)
        return cast(tuple[list[Column], list[County]], self.kept["counties"])


def school_types(schools: Sequence[orgs.Organisation], bureau: orgs.Organisation) -> SchoolGroup:
    """Group the schools by the grades they teach this school year, in two queries.

    A school's classes belong to its own bureau's school year: a city's view reads the
    year under way in each of its counties (and its own, for schools directly below it).
    """
    day = local_date(bureau)
    years = list(db.session.scalars(
        sa.select(SchoolYear.id).where(among(SchoolYear.bureau_id, orgs.bureau_ids_under(bureau)),
                                       SchoolYear.starts_on <= day, SchoolYear.ends_on >= day)))
    ranges: dict[int, tuple[int, int]] = {}
    if years and schools:
        # The years are the bureaus', so their classes are of the bureaus' schools: kept to
        # those asked about here rather than named in a thousand-id IN list.
        wanted = {s.id for s in schools}
        ranges = {
            school_id: (low, high)
            for school_id, low, high in db.session.execute(all_schools(
                sa.select(SchoolClass.school_id, sa.func.min(SchoolClass.grade),
                          sa.func.max(SchoolClass.grade))
                .where(among(SchoolClass.school_year_id, years))
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
    """Return ``bureau``'s umbrella view for ``user``, filtered and ordered as ``args`` say.

    The view (less its order) is kept in this worker under a key naming the viewer,
    locale and local day and the filters, with the versions it was made from: those of
    every school under the bureau, of the bureau's own rows and of the people
    (``pagecache.PEOPLE``: names, roles). It is shown again only while every version is
    the same, so a kept view is never stale; reading the versions is two queries, however
    many schools. A view made again after a write keeps the HTML rows of the schools
    nothing changed for (``_carry_rows``). A figure that changes with the clock alone (an
    event that ends) says when (``MetricTable.until``): the view is made again from then.
    """
    locale = str(get_locale())
    filters = tuple(sorted((k, v) for k, v in args.items() if k not in ("sort", "dir", "format")))
    key = ("umbrella", bureau.id, getattr(user, "id", None), locale, request.script_root,
           local_date(bureau).isoformat(), filters)
    versions = _versions_under(bureau)
    held = cast(tuple[Versions, Umbrella] | None, figures.kept_view(key))
    now = utcnow()
    if held is not None and held[0] == versions and not held[1].expired(now):
        base = held[1]
    else:
        base = _assemble(bureau, user, args, locale)
        if held is not None and not held[1].expired(now):
            _carry_rows(held, (versions, base))
        figures.keep_view(key, (versions, base))  # in place of the older one
    view = replace(base, schools=list(base.schools))
    sort = args.get("sort", type=int)
    view.descending = args.get("dir") == "desc"
    if sort is not None and 1 <= sort <= len(view.columns):
        view.sort = sort
        view.schools.sort(key=lambda s: _sort_key(view.cells(s)[sort - 1]),
                          reverse=view.descending)
    elif sort == 0:
        view.schools.sort(key=lambda s: s.slug, reverse=view.descending)
    return view


# What a kept view depends on: the versions of the rows that are no school's (the epoch,
# every school's, the people's, the bureaus') and those of each school, as (id, version).
Versions = tuple[tuple[tuple[int, int], ...], tuple[tuple[int, int], ...]]


def _carry_rows(before: tuple[Versions, Umbrella], after: tuple[Versions, Umbrella]) -> None:
    """Give the new view the HTML rows of the older one that cannot have changed.

    After a write in one school a view is made again, but 999 rows of 1,000 are what they
    were: a row is carried over when nothing but schools' versions moved, the tables have
    the same columns and links, and the school's own version, name, marks and figures are
    the same. Its links are then the same too: a link is built from the school and its
    figures, in the same view (viewer, locale, day, filters: the same kept key).
    """
    (marks, schools), old = before
    (new_marks, new_schools), new = after
    rows = old.kept.get("rows")
    if not rows or marks != new_marks or _layout(old) != _layout(new):
        return
    was, now = dict(schools), dict(new_schools)
    shown = {s.id: s for s in old.schools}
    carried: dict[int, str] = {}
    for school in new.schools:
        i = school.id
        row = rows.get(i)
        if (row is not None and was.get(i) == now.get(i) and shown.get(i) == school
                and (i in old.mine) == (i in new.mine) and (i in old.desks) == (i in new.desks)
                and old.cells(school) == new.cells(school)):
            carried[i] = row
    new.kept["rows"] = carried


def _layout(view: Umbrella) -> list[tuple[str, list[str], list[int]]]:
    """Return what a row's HTML takes from the tables besides the figures."""
    return [(str(t.title), [str(c) for c in t.columns], sorted(t.links or ()))
            for t in view.tables]


def _versions_under(bureau: orgs.Organisation) -> Versions:
    """Return the versions a kept view of ``bureau`` depends on, as ``(id, version)`` pairs:
    the database's epoch, every school's, the people's and those of the bureaus below it,
    then each school's."""
    bureaus = orgs.bureau_ids_under(bureau)
    table = SchoolVersion.__table__
    marks = db.session.execute(
        sa.select(table.c.school_id, table.c.version)
        .where(among(table.c.school_id, {EPOCH, EVERYWHERE, PEOPLE, *bureaus}))
        .order_by(table.c.school_id)).all()
    schools = db.session.execute(
        sa.select(orgs.Organisation.id, sa.func.coalesce(table.c.version, 0))
        .outerjoin(table, table.c.school_id == orgs.Organisation.id)
        .where(among(orgs.Organisation.parent_id, bureaus),
               orgs.Organisation.kind == orgs.SCHOOL)
        .order_by(orgs.Organisation.id)).all()
    return (tuple((int(i), int(v)) for i, v in marks),
            tuple((int(i), int(v)) for i, v in schools))


def _assemble(bureau: orgs.Organisation, user: Any, args: Any, locale: str) -> Umbrella:
    """Ask the plugins for the view's groups, tables and trends: the view in its first
    order (the viewer's own schools first, then by slug)."""
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
    schools.sort(key=lambda s: s.id not in mine)  # stable: by slug within
    moments = [table.until for table in tables if table.until is not None]
    return Umbrella([Shown.of(s, locale) for s in schools], tables, groups, chosen, sort=0,
                    descending=False, mine=mine,
                    desks=schools_where(user, "school.desk", schools),
                    charts=trends.charts(bureau, schools), until=min(moments, default=None))


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


def table_rows(view: Umbrella) -> Markup:
    """Return the table's rows as HTML: one row per school, in the view's order.

    Each school's row is made once per kept view (``build``) and kept with it, so a page
    sorted another way joins the same rows. Per distinct value once (each plugin's title,
    the school links' URL around the slug, the badge); per cell only the figure and its
    link. A template loop spent seconds here at 1,000 schools.
    """
    made: dict[int, str] = view.kept.setdefault("rows", {})
    missing = [school for school in view.schools if school.id not in made]
    if missing:
        made.update(_rows(view, missing))
    return Markup("".join([made[school.id] for school in view.schools]))  # noqa: S704 -- made by _rows, which escapes every value


def _rows(view: Umbrella, schools: list[Shown]) -> dict[int, str]:
    """Return the HTML row of each of ``schools``, by id."""
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
    shown = _escaper()
    made: dict[int, str] = {}
    for school in schools:
        school_id = school.id
        mine = school_id in view.mine
        before, after = desk if school_id in view.desks else public_page
        out = ['<tr class="mine">' if mine else "<tr>",
               f'<th scope="row"><a href="{escape(before + quote_slug(school.slug) + after)}">'
               f"{escape(school.name)}</a>{badge if mine else ''}</th>\n"]
        add = out.append
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
        made[school_id] = "".join(out)
    return made


def export_rows(view: Umbrella) -> tuple[list[Any], list[list[Any]]]:
    """Return the headers and rows of the export: exactly what the page shows, totals last."""
    headers: list[Any] = [str(_l("School"))] + [
        f"{column.table.title} · {column.heading}" for column in view.columns]
    rows = [[s.name, *view.cells(s)] for s in view.schools]
    rows.append([str(_l("Total")), *view.totals()])
    return headers, rows


@dataclass
class County:
    """A county bureau's line on a city bureau's view: its schools and its totals."""

    bureau: Shown
    schools: int
    totals: list[Any]
    links: list[str | None] = field(default_factory=list)  # the list behind each total


def rollup(bureau: orgs.Organisation, locale: str | None,
           moments: list[datetime] | None = None) -> tuple[list[Column], list[County]]:
    """Return, for a bureau with county bureaus below it, each county's totals; add to
    ``moments`` when any of them changes with the clock alone (``MetricTable.until``).

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
            if moments is not None and table.until is not None:
                moments.append(table.until)
            for index, heading in enumerate(table.columns):
                columns.setdefault((str(table.title), index), Column(table, index, heading))
        lines.append((county, len(schools), {
            (str(t.title), i): value for t in tables
            for i, value in enumerate(t.total or [])}, {
            (str(t.title), i): t.link(i, None) for t in tables for i in t.links}))
    keys = sorted(columns, key=lambda k: (columns[k].table.order, k))
    return ([columns[k] for k in keys],
            [County(Shown.of(county, locale), count, [values.get(k, "") for k in keys],
                    [links.get(k) for k in keys])
             for county, count, values, links in lines])
