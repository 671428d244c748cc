"""The pledge board's figures for the bureau's umbrella view, a fixed number of queries."""

from __future__ import annotations

from typing import Any, cast

import sqlalchemy as sa
from flask import url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from kaimen import MetricTable, all_schools, plugins
from kaimen.auth.models import RoleGrant, User
from kaimen.extensions import db
from kaimen.plugins import PluginSetting

from .models import ETHICS, WITHDRAWN, Pledge, PledgeSignature
from .services import current_school_year


def _published(ids: list[int], year: str) -> dict[int, tuple[int, int]]:
    """Return ``{school id: (published pledges, of them this school year)}``."""
    this_year = sa.func.sum(sa.case((Pledge.school_year == year, 1), else_=0))
    rows = db.session.execute(all_schools(
        sa.select(Pledge.school_id, sa.func.count(), this_year)
        .where(Pledge.school_id.in_(ids), Pledge.status != WITHDRAWN)
        .group_by(Pledge.school_id)
    ))
    return {school_id: (count, int(current or 0)) for school_id, count, current in rows}


def _signers(ids: list[int], year: str) -> dict[int, int]:
    """Return ``{school id: teachers who signed this year's ethics pledges}``."""
    rows = db.session.execute(all_schools(
        sa.select(Pledge.school_id, sa.func.count(sa.distinct(PledgeSignature.user_id)))
        .join(PledgeSignature, PledgeSignature.pledge_id == Pledge.id)
        .where(Pledge.school_id.in_(ids), Pledge.kind == ETHICS, Pledge.school_year == year)
        .group_by(Pledge.school_id)
    ))
    return {key: value for key, value in rows}


def _teachers(ids: list[int]) -> dict[int, int]:
    """Return ``{school id: active teacher accounts}``."""
    rows = db.session.execute(
        sa.select(RoleGrant.org_id, sa.func.count(sa.distinct(RoleGrant.user_id)))
        .join(User, User.id == RoleGrant.user_id)
        .where(RoleGrant.org_id.in_(ids), RoleGrant.role == "teacher", User.active.is_(True))
        .group_by(RoleGrant.org_id)
    )
    return {key: value for key, value in rows}


def _reports(schools: list[Any]) -> dict[int, tuple[int, int]] | None:
    """Return ``{school id: (reports, substantiated)}``, or None when no plugin counts reports.

    The pledge references and the plugin switches are one query each; each answering
    plugin (the complaint box) is asked once, for every school where it is enabled.
    """
    impls = plugins.state().manager.hook.kaimen_report_counts.get_hookimpls()
    if not impls:
        return None
    ids = [s.id for s in schools]
    school_of: dict[str, int] = {}
    for school_id, pledge_id in db.session.execute(all_schools(
        sa.select(Pledge.school_id, Pledge.id).where(Pledge.school_id.in_(ids))
    )):
        school_of[f"pledge:{pledge_id}"] = school_id
    switched_off: dict[int, set[str]] = {}
    for org_id, name in db.session.execute(
        sa.select(PluginSetting.org_id, PluginSetting.plugin).where(
            PluginSetting.org_id.in_(ids), PluginSetting.enabled.is_(False)
        )
    ):
        switched_off.setdefault(org_id, set()).add(name)
    totals = {school_id: (0, 0) for school_id in ids}
    if not school_of:
        return totals
    for impl in impls:
        enabled = [s for s in schools if impl.plugin_name not in switched_off.get(s.id, ())]
        references = [ref for ref, sid in school_of.items()
                      if impl.plugin_name not in switched_off.get(sid, ())]
        if not enabled or not references:
            continue
        answer = cast(dict[str, tuple[int, int]],
                      impl.function(schools=enabled, references=references) or {})
        for reference, (reports, substantiated) in answer.items():
            owner = school_of.get(reference)
            if owner is None:
                continue
            before = totals[owner]
            totals[owner] = (before[0] + reports, before[1] + substantiated)
    return totals


def pledge_metrics(bureau: Any, schools: list[Any]) -> MetricTable:
    """Return published pledges, board this year, ethics signatures and reports per school."""
    ids, year = [s.id for s in schools], current_school_year()
    published, signers, teachers = _published(ids, year), _signers(ids, year), _teachers(ids)
    reports = _reports(schools)
    columns = [_l("Published pledges"), _l("Board for %(year)s", year=year),
               _l("Ethics pledge signed / teachers")]
    if reports is not None:
        columns.append(_l("Broken-pledge reports (substantiated)"))
    table = MetricTable(title=_l("Pledge board"), columns=columns, order=30,
                        url=url_for("pledges_bureau.schools", bureau=bureau.slug))
    for school in schools:
        count, current = published.get(school.id, (0, 0))
        row: list[Any] = [count, _("Yes") if current else _("No"),
                          f"{signers.get(school.id, 0)} / {teachers.get(school.id, 0)}"]
        if reports is not None:
            row.append("{} ({})".format(*reports[school.id]))
        table.rows[school.id] = row
    boards = sum(1 for s in schools if published.get(s.id, (0, 0))[1])
    table.total = [sum(c for c, _y in published.values()), f"{boards} / {len(schools)}",
                   f"{sum(signers.values())} / {sum(teachers.get(i, 0) for i in ids)}"]
    if reports is not None:
        reported, substantiated = (sum(r[i] for r in reports.values()) for i in (0, 1))
        table.total.append(f"{reported} ({substantiated})")
    return table
