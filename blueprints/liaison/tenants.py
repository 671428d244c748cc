"""The tenants file's ``[[liaison_link]]`` and ``[[liaison_package]]`` sections.

```toml
[[liaison_link]]                 # a leader's linked schools (联系学校) in one school year
bureau = "jiayu"
school_year = "2026-2027"
leader = "leader.wang"           # a username holding the leader role on that bureau
schools = ["shiyan-xiaoxue", "yuyue-zhongxue"]

[[liaison_package]]              # a unit's packaged schools (包保学校)
bureau = "jiayu"
school_year = "2026-2027"
unit = "jiaoyanshi"              # a unit slug of that bureau
schools = ["shiyan-xiaoxue"]
```

Each entry sets that leader's (or unit's) schools for the year to exactly the list,
through the same service as the grid page, audited. An unknown bureau, year, leader,
unit or school fails the whole load with its name.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from kaimen import Unit, db
from kaimen.classes import SchoolYear

from . import services

FIELDS = {"bureau", "school_year", "schools"}


def _text(loader: Any, where: str, value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise loader.fail(where, "is required and must be a non-empty string")
    return value.strip()


def _entries(loader: Any, section: str, holder: str) -> list[tuple[str, dict]]:
    items = loader.document.get(section, [])
    if not isinstance(items, list):
        raise loader.fail(section, f"must be an array of tables ([[{section}]])")
    checked = []
    for index, item in enumerate(items):
        where = f"{section}[{index}]"
        if not isinstance(item, dict):
            raise loader.fail(where, "must be a table")
        unknown = sorted(set(item) - FIELDS - {holder})
        if unknown:
            raise loader.fail(f"{where}.{unknown[0]}", "unknown field")
        checked.append((where, item))
    return checked


def _place(loader: Any, where: str, item: dict) -> tuple[Any, SchoolYear, list[int]]:
    bureau = loader.org(f"{where}.bureau", _text(loader, f"{where}.bureau", item.get("bureau")),
                        "bureau")
    name = _text(loader, f"{where}.school_year", item.get("school_year"))
    year = db.session.scalar(sa.select(SchoolYear).filter_by(bureau_id=bureau.id, name=name))
    if year is None:
        raise loader.fail(f"{where}.school_year",
                          f"no school year {name!r} of bureau {bureau.slug!r}")
    listed = item.get("schools", [])
    if not isinstance(listed, list):
        raise loader.fail(f"{where}.schools", "must be an array of school slugs")
    school_ids = []
    for index, slug in enumerate(listed):
        swhere = f"{where}.schools[{index}]"
        school = loader.org(swhere, _text(loader, swhere, slug), "school")
        if school.parent_id != bureau.id:
            raise loader.fail(swhere, f"school {school.slug!r} is not under bureau {bureau.slug!r}")
        school_ids.append(school.id)
    return bureau, year, school_ids


def _apply(loader: Any, bureau: Any, year: SchoolYear, **kwargs: Any) -> None:
    changed = services.set_assignments(bureau, year, **kwargs)
    loader.report.updated += changed


def load_links(loader: Any) -> None:
    """Set each listed leader's linked schools."""
    for where, item in _entries(loader, "liaison_link", "leader"):
        bureau, year, school_ids = _place(loader, where, item)
        username = _text(loader, f"{where}.leader", item.get("leader")).lower()
        leader = next((u for u in services.leaders_of(bureau) if u.username == username), None)
        if leader is None:
            raise loader.fail(f"{where}.leader",
                              f"no leader {username!r} of bureau {bureau.slug!r}")
        _apply(loader, bureau, year, links={(sid, leader.id) for sid in school_ids},
               packages=set(), leaders=[leader.id], units=[])


def load_packages(loader: Any) -> None:
    """Set each listed unit's packaged schools."""
    for where, item in _entries(loader, "liaison_package", "unit"):
        bureau, year, school_ids = _place(loader, where, item)
        slug = _text(loader, f"{where}.unit", item.get("unit"))
        unit = db.session.scalar(sa.select(Unit).filter_by(bureau_id=bureau.id, slug=slug))
        if unit is None:
            raise loader.fail(f"{where}.unit", f"no unit {slug!r} of bureau {bureau.slug!r}")
        _apply(loader, bureau, year, links=set(),
               packages={(sid, unit.id) for sid in school_ids}, leaders=[], units=[unit.id])
