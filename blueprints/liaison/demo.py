"""Demo rows: leaders linked to a few schools each, units packaging several, a visit per school."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import sqlalchemy as sa

from kaimen import Organisation, db, local_date
from kaimen.classes import current_year

from . import services
from .models import LiaisonVisit, LinkAssignment

FINDINGS = (
    "听取了校长和教师代表对课后服务收费的意见，学校已按规定公示收费项目。",
    "检查了家访记载簿和意见箱，意见均已登记并按时答复。",
    "指导学校完善师德承诺公示，提醒严禁在职教师有偿补课。",
)


def load(bureau: Organisation, schools: list[Organisation], users: dict[str, Any]) -> None:
    """Assign the bureau's leaders and units round the schools and log a visit per school."""
    year = current_year(bureau)
    own = [s for s in schools if s.parent_id == bureau.id]
    if year is None or not own:
        return
    leaders, units = services.leaders_of(bureau), services.units_of(bureau)
    assigned = db.session.scalar(sa.select(LinkAssignment.id).where(
        LinkAssignment.school_year_id == year.id,
        LinkAssignment.school_id.in_([s.id for s in own])).limit(1))
    if assigned is None and leaders:
        links = {(school.id, leaders[i % len(leaders)].id) for i, school in enumerate(own)}
        packages = set()
        for i, school in enumerate(own):
            for step in (0, 3)[: min(2, len(units))]:
                packages.add((school.id, units[(i + step) % len(units)].id))
        services.set_assignments(bureau, year, links, packages)
    if not leaders:
        return
    visited = set(db.session.scalars(sa.select(LiaisonVisit.school_id).where(
        LiaisonVisit.school_id.in_([s.id for s in own]))))
    today = local_date(bureau)
    grid = services.load_grid(year, [s.id for s in own])
    for i, school in enumerate(own):
        if school.id in visited:
            continue
        visitor = next(iter(grid.leaders.get(school.id, [])), leaders[0])
        services.record_visit(
            school, visitor, visited_on=today - timedelta(days=3 + i), today=today,
            purposes=[("hear", "inspect", "guide")[i % 3]], met="校长、家长代表",
            findings=FINDINGS[i % 3],
            follow_ups=[services.FollowUp("公示整改结果", today + timedelta(days=14))],
        )
    db.session.flush()
