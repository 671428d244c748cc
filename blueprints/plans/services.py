"""The rules of campaigns and plans: drafting, submitting, returning, approving.

Every write is here (the ledger's in ``ledger``), each with its audit event, in the
caller's transaction; the views load, check the permission and call these. The
complaint box is reached through its hooks only.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l

from kaimen import (
    Organisation,
    Unit,
    User,
    all_schools,
    audit,
    db,
    hook_for,
    local_date,
    schools_under,
    utcnow,
)

from . import notices
from .models import (
    APPROVED,
    CATEGORIES,
    DRAFT,
    MANAGE_PERMISSIONS,
    MEASURE_FIELDS,
    NOT_STARTED,
    PROBLEM_FIELDS,
    RETURNED,
    STAGES,
    SUBMITTED,
    Campaign,
    Measure,
    Plan,
    PlanVersion,
    Problem,
)


class PlanError(ValueError):
    """A change the rules refuse; the message is translated and meant for the user."""


# --- owners: a school, or the bureau for its own plan ------------------------------------------

def manage_permission(org: Organisation | str) -> str:
    """Return the permission to draft ``org``'s plan (``org`` or its kind)."""
    kind = org if isinstance(org, str) else org.kind
    return MANAGE_PERMISSIONS[kind]


def record(action: str, obj: Any, owner: Organisation, **details: Any) -> None:
    """Audit a change to ``owner``'s plan, in the school's place or the bureau's."""
    if owner.is_school:
        audit.record(action, obj, school=owner, **details)
    else:
        audit.record(action, obj, bureau=owner, **details)


# --- campaigns ---------------------------------------------------------------------------------


def open_campaign(bureau: Organisation, title: str, starts_on: date | None,
                  stage_ends: dict[str, date | None], actor: User | None) -> Campaign:
    """Open a campaign for every school of ``bureau``, each school, and the bureau itself,
    with a draft plan."""
    title = (title or "").strip()
    if not title or starts_on is None or any(stage_ends.get(s) is None for s in STAGES):
        raise PlanError(_l("Give the campaign a title, a start and the last day of each stage."))
    days = [starts_on] + [day for s in STAGES if (day := stage_ends[s]) is not None]
    if any(later < earlier for earlier, later in zip(days, days[1:], strict=False)):
        raise PlanError(_l("The stages must follow each other: each ends after the one before."))
    campaign = Campaign(bureau_id=bureau.id, bureau=bureau, title=title, starts_on=starts_on,
                        **{f"{s}_until": stage_ends[s] for s in STAGES})
    db.session.add(campaign)
    db.session.flush()
    for org in [bureau, *schools_under(bureau)]:
        db.session.add(Plan(school_id=org.id, campaign_id=campaign.id, status=DRAFT))
    audit.record("plan.campaign_opened", campaign, bureau=bureau, actor=actor,
                 data={"title": title, "starts_on": starts_on.isoformat()})
    return campaign


def campaigns_of(bureau: Organisation) -> list[Campaign]:
    """Return ``bureau``'s campaigns, newest first."""
    return list(db.session.scalars(sa.select(Campaign).where(Campaign.bureau_id == bureau.id)
                                   .order_by(Campaign.starts_on.desc(), Campaign.id.desc())))


def campaign_of(bureau: Organisation, campaign_id: int) -> Campaign | None:
    """Return campaign ``campaign_id`` if it is ``bureau``'s."""
    return db.session.scalar(sa.select(Campaign).where(
        Campaign.id == campaign_id, Campaign.bureau_id == bureau.id))


def current_campaign(bureau: Organisation) -> Campaign | None:
    """Return the campaign running today, else the latest one."""
    today = local_date(bureau)
    campaigns = campaigns_of(bureau)
    running = [c for c in campaigns if c.stage_on(today) is not None]
    chosen = running or campaigns
    return chosen[0] if chosen else None


def plans_of(org: Organisation) -> list[Plan]:
    """Return ``org``'s own plans (a school's, or the bureau's), newest campaign first."""
    return list(db.session.scalars(sa.select(Plan).join(Campaign).where(Plan.school_id == org.id)
                                   .order_by(Campaign.starts_on.desc(), Plan.id.desc())))


def own_plan(bureau: Organisation, campaign: Campaign) -> Plan | None:
    """Return the bureau's own plan in ``campaign``, if it has one."""
    return db.session.scalar(all_schools(sa.select(Plan).where(
        Plan.school_id == bureau.id, Plan.campaign_id == campaign.id)))


def start_own_plan(campaign: Campaign, actor: User | None) -> Plan:
    """Give the bureau a draft plan of its own in ``campaign`` (opened before it had one)."""
    bureau = campaign.bureau
    if db.session.scalar(sa.select(Plan.id).where(
            Plan.school_id == bureau.id, Plan.campaign_id == campaign.id)) is not None:
        raise PlanError(_l("The bureau already has a plan in this campaign."))
    plan = Plan(school_id=bureau.id, campaign_id=campaign.id, status=DRAFT)
    db.session.add(plan)
    db.session.flush()
    audit.record("plan.started", plan, bureau=bureau, actor=actor,
                 data={"campaign_id": campaign.id})
    return plan


# --- the complaint box, through its hooks ------------------------------------------------------


def _complaint_hook(school: Organisation, name: str) -> Any:
    try:
        return hook_for(school, name)
    except AttributeError:  # the complaint box is not installed
        return None


def case_choices(school: Organisation) -> list[tuple[int, str]]:
    """Return ``(id, subject)`` of the school's complaint-box cases to link a problem to."""
    if not school.is_school:
        return []  # the box is a school's: the bureau's problems cite other opinions
    hook = _complaint_hook(school, "kaimen_complaint_choices")
    return [choice for answer in (hook(school=school) if hook else []) for choice in answer]


def linked_cases(school: Organisation, ids: list[int]) -> dict[int, tuple[str, Any, bool, str]]:
    """Return ``{case id: (subject, status label, finished, url)}`` for the linked cases found."""
    hook = _complaint_hook(school, "kaimen_complaint_cases")
    if not ids or hook is None:
        return {}
    return {case_id: (subject, status, finished, url)
            for answer in hook(school=school, ids=list(ids))
            for case_id, subject, status, finished, url in answer}


def unit_names(org: Organisation) -> list[str]:
    """Return the names of a bureau's departments and units, to answer for its measures."""
    if org.is_school:
        return []
    return list(db.session.scalars(sa.select(Unit.name).where(Unit.bureau_id == org.id)
                                   .order_by(Unit.kind, Unit.slug)))


# --- drafting ----------------------------------------------------------------------------------


def _editable(plan: Plan) -> None:
    if not plan.editable:
        raise PlanError(_l("Only a draft or a returned plan can be changed."))


def _check_deadline(plan: Plan, deadline: date | None) -> None:
    campaign = plan.campaign
    if deadline is not None and not campaign.starts_on <= deadline <= campaign.review_until:
        raise PlanError(_l("The deadline must fall within the campaign, %(start)s to %(end)s.",
                           start=campaign.starts_on.isoformat(),
                           end=campaign.review_until.isoformat()))


def _problem_values(content: dict[str, Any]) -> dict[str, Any]:
    category, description = content.get("category"), (content.get("description") or "").strip()
    if category not in CATEGORIES:
        raise PlanError(_l("Choose the area of the problem from the list."))
    if not description:
        raise PlanError(_l("Describe the problem."))
    cases = sorted({int(c) for c in content.get("cases") or []})
    return {"category": category, "description": description, "cases": cases,
            "other_opinions": (content.get("other_opinions") or "").strip()}


def add_problem(plan: Plan, actor: User | None, **content: Any) -> Problem:
    """Add a problem to a draft or returned plan."""
    _editable(plan)
    problem = Problem(school_id=plan.school_id, plan_id=plan.id, **_problem_values(content))
    plan.problems.append(problem)
    db.session.flush()
    record("plan.problem_added", problem, plan.school, actor=actor,
                 data={"plan_id": plan.id, "category": problem.category})
    return problem


def edit_problem(problem: Problem, actor: User | None, **content: Any) -> None:
    """Change a problem of a draft or returned plan."""
    _editable(problem.plan)
    for field, value in _problem_values(content).items():
        setattr(problem, field, value)
    record("plan.problem_edited", problem, problem.plan.school, actor=actor)


def delete_problem(problem: Problem, actor: User | None) -> None:
    """Remove a problem and its measures from a draft or returned plan."""
    plan = problem.plan
    _editable(plan)
    record("plan.problem_deleted", problem, plan.school, actor=actor,
                 data={"description": problem.description})
    plan.problems.remove(problem)


def _measure_values(plan: Plan, content: dict[str, Any]) -> dict[str, Any]:
    values = {f: (content.get(f) or "").strip() for f in MEASURE_FIELDS if f != "deadline"}
    if not values["action"]:
        raise PlanError(_l("Say what will be done."))
    deadline = content.get("deadline")
    _check_deadline(plan, deadline)
    return values | {"deadline": deadline}


def add_measure(problem: Problem, actor: User | None, **content: Any) -> Measure:
    """Add a measure to a problem of a draft or returned plan."""
    plan = problem.plan
    _editable(plan)
    measure = Measure(school_id=plan.school_id, plan_id=plan.id, **_measure_values(plan, content))
    problem.measures.append(measure)
    db.session.flush()
    record("plan.measure_added", measure, plan.school, actor=actor,
                 data={"plan_id": plan.id, "problem_id": problem.id})
    return measure


def edit_measure(measure: Measure, actor: User | None, **content: Any) -> None:
    """Change a measure of a draft or returned plan."""
    plan = measure.problem.plan
    _editable(plan)
    for field, value in _measure_values(plan, content).items():
        setattr(measure, field, value)
    record("plan.measure_edited", measure, plan.school, actor=actor)


def delete_measure(measure: Measure, actor: User | None) -> None:
    """Remove a measure from a draft or returned plan."""
    problem = measure.problem
    _editable(problem.plan)
    record("plan.measure_deleted", measure, problem.plan.school, actor=actor,
                 data={"action": measure.action})
    problem.measures.remove(measure)


# --- the workflow ------------------------------------------------------------------------------


def numbered(plan: Plan) -> dict[int, str]:
    """Return ``{measure id: "2.1"}``: problem number, dot, measure number."""
    return {m.id: f"{p_index}.{m_index}"
            for p_index, problem in enumerate(plan.problems, 1)
            for m_index, m in enumerate(problem.measures, 1)}


def submission_problems(plan: Plan) -> list[str]:
    """Return what stops ``plan`` from being submitted, one line per item, naming each."""
    if not plan.problems:
        return [str(_l("The plan has no problems yet."))]
    lines, numbers = [], numbered(plan)
    for index, problem in enumerate(plan.problems, 1):
        if not problem.measures:
            lines.append(str(_l("Problem %(number)d has no measure.", number=index)))
        for measure in problem.measures:
            missing = []
            if not measure.responsible_person:
                missing.append(str(_l("no responsible person")))
            if measure.deadline is None:
                missing.append(str(_l("no deadline")))
            else:
                try:
                    _check_deadline(plan, measure.deadline)
                except PlanError:
                    missing.append(str(_l("a deadline outside the campaign")))
            if missing:
                lines.append(str(_l("Measure %(number)s (%(action)s): %(missing)s.",
                                    number=numbers[measure.id], action=measure.action[:40],
                                    missing=", ".join(missing))))
    return lines


def snapshot(plan: Plan) -> list[dict[str, Any]]:
    """Return the plan's problems and measures as plain data, for a version."""
    return [{
        "id": problem.id,
        **{f: getattr(problem, f) for f in PROBLEM_FIELDS},
        "measures": [{"id": m.id, **{f: getattr(m, f) for f in MEASURE_FIELDS},
                      "deadline": m.deadline.isoformat() if m.deadline else None}
                     for m in problem.measures],
    } for problem in plan.problems]


def submit(plan: Plan, actor: User | None) -> PlanVersion:
    """Submit a draft or returned plan for review as a new version."""
    _editable(plan)
    refused = submission_problems(plan)
    if refused:
        raise PlanError(_l("The plan cannot be submitted yet: %(items)s",
                           items=" ".join(refused)))
    now = utcnow()
    version = PlanVersion(school_id=plan.school_id, plan_id=plan.id,
                          number=len(plan.versions) + 1, snapshot=snapshot(plan),
                          submitted_at=now, submitted_by_id=actor.id if actor else None)
    plan.versions.append(version)
    plan.status, plan.submitted_at, plan.changed_at = SUBMITTED, now, now
    db.session.flush()
    record("plan.submitted", plan, plan.school, actor=actor,
                 data={"version": version.number})
    notices.awaiting_review(plan)
    return version


def _pending(plan: Plan, actor: User | None) -> PlanVersion:
    version = plan.last_version
    if plan.status != SUBMITTED or version is None:
        raise PlanError(_l("Only a plan awaiting review can be approved or returned."))
    if actor is not None and version.submitted_by_id == actor.id:
        raise PlanError(_l("You submitted this version: another reviewer decides on it."))
    return version


def return_plan(plan: Plan, comment: str, measure_comments: dict[int, str],
                actor: User | None) -> Plan:
    """Return a submitted plan to its school with a comment, and comments on single measures."""
    version = _pending(plan, actor)
    comment = (comment or "").strip()
    if not comment:
        raise PlanError(_l("Say why the plan is returned."))
    known = {m.id for m in plan.measures}
    kept = {str(k): v.strip() for k, v in measure_comments.items() if k in known and v.strip()}
    version.decision, version.decided_at = RETURNED, utcnow()
    version.comment, version.measure_comments = comment, kept
    plan.status, plan.changed_at = RETURNED, utcnow()
    record("plan.returned", plan, plan.school, actor=actor,
                 data={"version": version.number, "comment": comment, "measures": sorted(kept)})
    notices.decided(plan, approved=False)
    return plan


def approve(plan: Plan, comment: str, actor: User | None) -> Plan:
    """Approve a submitted plan: it is published and each measure becomes a ledger item."""
    version = _pending(plan, actor)
    now = utcnow()
    version.decision, version.decided_at, version.comment = APPROVED, now, (comment or "").strip()
    plan.status, plan.approved_at, plan.changed_at = APPROVED, now, now
    for measure in plan.measures:
        measure.status, measure.status_changed_at = NOT_STARTED, now
    record("plan.approved", plan, plan.school, actor=actor,
                 data={"version": version.number})
    notices.decided(plan, approved=True)
    return plan


# --- what the reviewer sees --------------------------------------------------------------------


@dataclass
class Change:
    """One difference between two versions: a problem or measure added, removed or changed."""

    kind: str  # added, removed, changed
    what: str  # problem, measure
    label: str
    fields: list[tuple[str, Any, Any]]


def _label(item: dict[str, Any], what: str) -> str:
    return str(item["description" if what == "problem" else "action"])[:80]


def _compare(old: dict[str, Any], new: dict[str, Any], fields: tuple[str, ...]) -> list[tuple]:
    return [(f, old.get(f), new.get(f)) for f in fields if old.get(f) != new.get(f)]


def changes(before: list[dict[str, Any]], after: list[dict[str, Any]]) -> list[Change]:
    """Return what changed from one submitted snapshot to the next, problem by problem."""
    result: list[Change] = []
    old_problems = {p["id"]: p for p in before}
    new_ids = {p["id"] for p in after}
    for problem in after:
        old = old_problems.get(problem["id"])
        if old is None:
            result.append(Change("added", "problem", _label(problem, "problem"), []))
            old = {"measures": []}
        else:
            diff = _compare(old, problem, PROBLEM_FIELDS)
            if diff:
                result.append(Change("changed", "problem", _label(problem, "problem"), diff))
        old_measures = {m["id"]: m for m in old["measures"]}
        for measure in problem["measures"]:
            was = old_measures.pop(measure["id"], None)
            if was is None:
                result.append(Change("added", "measure", _label(measure, "measure"), []))
            elif diff := _compare(was, measure, MEASURE_FIELDS):
                result.append(Change("changed", "measure", _label(measure, "measure"), diff))
        result += [Change("removed", "measure", _label(m, "measure"), [])
                   for m in old_measures.values()]
    result += [Change("removed", "problem", _label(p, "problem"), [])
               for p in before if p["id"] not in new_ids]
    return result


def review_changes(plan: Plan) -> list[Change] | None:
    """Return the changes of the latest version since the one before, None for a first one."""
    if len(plan.versions) < 2:
        return None
    return changes(plan.versions[-2].snapshot, plan.versions[-1].snapshot)


def returned_comments(plan: Plan) -> PlanVersion | None:
    """Return the version that carries the reviewer's latest return, while the plan is returned."""
    if plan.status == RETURNED and plan.last_version is not None:
        return plan.last_version
    return None

