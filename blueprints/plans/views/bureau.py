"""The bureau's pages: reviewing plans and acting on ledger items (on the school's URLs,
so a school's own staff meet 403 there, and on the bureau's own-plan URLs), campaigns, the
county's ledger and summary, with the bureau's own plan as a line of its own."""

from __future__ import annotations

from typing import Any

from flask import abort, flash, g, redirect, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from kaimen import id_arg, local_date, require, schools_under, user_can

from .. import ledger, metrics, services
from ..blueprint import bureau_blueprint
from ..forms import CampaignForm, ConfirmForm, ReopenForm, ReviewForm, UrgeForm
from ..models import APPROVED, STAGES, SUBMITTED, Measure, Plan
from . import attempt, owned, owner, render, shared
from .staff import item_page

# --- review, on the owner's URLs -----------------------------------------------------------------


def review_page(plan: Plan, form: ReviewForm | None = None) -> str:
    """Render the reviewer's page: the latest version, what changed, the comment forms."""
    ids = sorted({case for problem in plan.problems for case in problem.cases})
    return render("plans/review.html", plan=plan, numbers=services.numbered(plan),
                  changes=services.review_changes(plan), form=form or ReviewForm(formdata=None),
                  cases=services.linked_cases(owner(), ids))


@shared("/<int:plan_id>/review", "plans.review")
def review(plan_id: int) -> str:
    """Show a submitted plan to its reviewer, with the changes since the last version."""
    return review_page(owned(Plan, plan_id))


@shared("/<int:plan_id>/return", "plans.review", methods=("POST",))
def return_plan(plan_id: int) -> Any:
    """Return the plan to the school with comments on it and on single measures."""
    plan = owned(Plan, plan_id)
    form = ReviewForm()
    comments = {m.id: request.form.get(f"measure-{m.id}", "") for m in plan.measures}
    if form.validate_on_submit() and attempt(
            lambda: services.return_plan(plan, form.comment.data, comments, current_user),
            form.comment):
        flash(_("The plan was returned to the school."), "info")
        return redirect(url_for(".plan", plan_id=plan.id))
    return review_page(plan, form)


@shared("/<int:plan_id>/approve", "plans.review", methods=("POST",))
def approve(plan_id: int) -> Any:
    """Approve the plan: it is published and its measures enter the ledger."""
    plan = owned(Plan, plan_id)
    form = ReviewForm()
    if form.validate_on_submit() and attempt(
            lambda: services.approve(plan, form.comment.data, current_user), form.comment):
        flash(_("The plan was approved and published."), "info")
        return redirect(url_for(".plan", plan_id=plan.id))
    return review_page(plan, form)


@shared("/items/<int:measure_id>/urge", "plans.review", methods=("POST",))
def urge(measure_id: int) -> Any:
    """Urge an item (督办): an instruction and a date to report by; the school is told."""
    measure = owned(Measure, measure_id)
    form = UrgeForm()
    if form.validate_on_submit() and attempt(
            lambda: ledger.urge(measure, form.instruction.data, form.due_on.data, current_user),
            form.due_on):
        flash(_("The school was urged."), "info")
        return redirect(url_for(".item", measure_id=measure.id))
    return item_page(measure, urge_form=form)


@shared("/items/<int:measure_id>/signoff", "plans.review", methods=("POST",))
def sign_off(measure_id: int) -> Any:
    """Sign off an item (销号) once it is done with evidence and its opinions are closed."""
    measure = owned(Measure, measure_id)
    form = ConfirmForm()
    if form.validate_on_submit() and attempt(
            lambda: ledger.sign_off(measure, form.note.data, current_user)):
        flash(_("The item was signed off."), "info")
    return redirect(url_for(".item", measure_id=measure.id))


@shared("/items/<int:measure_id>/reopen", "plans.review", methods=("POST",))
def reopen(measure_id: int) -> Any:
    """Reopen a signed-off item, with a reason."""
    measure = owned(Measure, measure_id)
    form = ReopenForm()
    if form.validate_on_submit() and attempt(
            lambda: ledger.reopen(measure, form.reason.data, current_user), form.reason):
        flash(_("The item was reopened."), "info")
        return redirect(url_for(".item", measure_id=measure.id))
    return item_page(measure, reopen_form=form)


# --- the bureau's own pages ---------------------------------------------------------------------


def _county(campaign: Any) -> dict[str, Any]:
    """Return the schools' figures of ``campaign`` and, on a line of its own, the bureau's."""
    schools = schools_under(g.bureau)
    ids, today = [s.id for s in schools], local_date(g.bureau)
    if campaign is None:
        return {"schools": schools, "today": today}
    tallies = metrics.tallies(campaign, ids, today)
    statuses = metrics.plan_statuses(campaign, ids)
    own_tally = metrics.tallies(campaign, [g.bureau.id], today)[g.bureau.id]
    return {"schools": schools, "today": today, "tallies": tallies, "statuses": statuses,
            "waiting": [s for s in schools if statuses.get(s.id) == SUBMITTED],
            "pending": [s for s in schools if statuses.get(s.id) != APPROVED],
            "sentences": {i: metrics.sentence(t) for i, t in tallies.items()},
            "county": metrics.sentence(metrics.county_tally(tallies)),
            "total": metrics.county_tally(tallies),
            "own_plan": services.own_plan(g.bureau, campaign),
            "own": metrics.sentence(own_tally), "own_tally": own_tally}


@bureau_blueprint.get("/")
@require("plans.view")
def index() -> str:
    """Show the campaigns, the current stage and each school's plan and ledger in figures."""
    campaign = services.current_campaign(g.bureau)
    return render("plans/bureau_index.html", bureau=g.bureau, campaign=campaign,
                  campaigns=services.campaigns_of(g.bureau),
                  confirm_form=ConfirmForm(formdata=None),
                  can_own=user_can(current_user, "plans.own", g.bureau), **_county(campaign))


@bureau_blueprint.route("/campaigns/new", methods=["GET", "POST"])
@require("plans.campaigns")
def new_campaign() -> Any:
    """Open a campaign with its stages for every school of the bureau."""
    form = CampaignForm()
    if form.validate_on_submit() and attempt(lambda: services.open_campaign(
            g.bureau, form.title.data, form.starts_on.data,
            {s: form[f"{s}_until"].data for s in STAGES}, current_user), form.title):
        flash(_("The campaign was opened; every school has a draft plan."), "info")
        return redirect(url_for(".index"))
    return render("plans/campaign_form.html", bureau=g.bureau, form=form)


@bureau_blueprint.get("/ledger")
@require("plans.view")
def county_ledger() -> str:
    """List the county's ledger items, the bureau's own among them: all, due, overdue or
    recently changed."""
    which = request.args.get("list", "overdue")
    which = which if which in ledger.LISTS else "overdue"
    today = local_date(g.bureau)
    schools = schools_under(g.bureau)
    school = next((s for s in schools if s.id == id_arg("school")), None)
    campaign_id = id_arg("campaign")
    campaign = services.campaign_of(g.bureau, campaign_id) if campaign_id is not None else None
    keep = {key: str(value.id) for key, value in (("school", school), ("campaign", campaign))
            if value is not None}
    if school is not None:  # the umbrella view's link from one school's figure
        ids = [school.id]
    elif keep:  # from the county's figure: the schools' items it counted, not the bureau's own
        ids = [s.id for s in schools]
    else:
        ids = [g.bureau.id] + [s.id for s in schools]
    return render("plans/bureau_ledger.html", bureau=g.bureau, which=which, lists=ledger.LISTS,
                  ledger_items=ledger.items(today, which, ids,
                                            campaign.id if campaign else None),
                  today=today, school=school, campaign=campaign, keep=keep)


@bureau_blueprint.get("/summary")
@require("plans.view")
def summary() -> str:
    """Show the printable one-page summary of the campaign in the report's words."""
    campaign = services.current_campaign(g.bureau)
    context = _county(campaign)
    ids = [g.bureau.id] + [s.id for s in context["schools"]]
    overdue = ledger.items(context["today"], "overdue", ids) if campaign else []
    return render("plans/summary.html", bureau=g.bureau, campaign=campaign, overdue=overdue,
                  **context)


@bureau_blueprint.post("/campaigns/<int:campaign_id>/own")
@require("plans.own")
def start_own_plan(campaign_id: int) -> Any:
    """Give the bureau a draft plan of its own in a campaign opened before it had one."""
    campaign = services.campaign_of(g.bureau, campaign_id)
    if campaign is None:
        abort(404)
    if ConfirmForm().validate_on_submit() and (plan := attempt(
            lambda: services.start_own_plan(campaign, current_user))) is not None:
        return redirect(url_for(".plan", plan_id=plan.id))
    return redirect(url_for(".index"))
