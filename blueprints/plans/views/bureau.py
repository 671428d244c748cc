"""The bureau's pages: reviewing plans and acting on ledger items (on the school's URLs,
so a school's own staff meet 403 there), campaigns, the county's ledger and summary."""

from __future__ import annotations

from typing import Any

from flask import flash, g, redirect, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from kaimen import db, id_arg, local_date, require, schools_under

from .. import ledger, metrics, services
from ..blueprint import bureau_blueprint, school_blueprint
from ..forms import CampaignForm, ConfirmForm, ReopenForm, ReviewForm, UrgeForm
from ..models import APPROVED, STAGES, SUBMITTED, Measure, Plan
from . import attempt, render
from .staff import item_page

# --- review, on the school's URLs ---------------------------------------------------------------


def review_page(plan: Plan, form: ReviewForm | None = None) -> str:
    """Render the reviewer's page: the latest version, what changed, the comment forms."""
    ids = sorted({case for problem in plan.problems for case in problem.cases})
    return render("plans/review.html", plan=plan, numbers=services.numbered(plan),
                  changes=services.review_changes(plan), form=form or ReviewForm(formdata=None),
                  cases=services.linked_cases(g.school, ids))


@school_blueprint.get("/<int:plan_id>/review")
@require("plans.review")
def review(plan_id: int) -> str:
    """Show a submitted plan to its reviewer, with the changes since the last version."""
    return review_page(db.get_or_404(Plan, plan_id))


@school_blueprint.post("/<int:plan_id>/return")
@require("plans.review")
def return_plan(plan_id: int) -> Any:
    """Return the plan to the school with comments on it and on single measures."""
    plan = db.get_or_404(Plan, plan_id)
    form = ReviewForm()
    comments = {m.id: request.form.get(f"measure-{m.id}", "") for m in plan.measures}
    if form.validate_on_submit() and attempt(
            lambda: services.return_plan(plan, form.comment.data, comments, current_user),
            form.comment):
        flash(_("The plan was returned to the school."), "info")
        return redirect(url_for(".plan", plan_id=plan.id))
    return review_page(plan, form)


@school_blueprint.post("/<int:plan_id>/approve")
@require("plans.review")
def approve(plan_id: int) -> Any:
    """Approve the plan: it is published and its measures enter the ledger."""
    plan = db.get_or_404(Plan, plan_id)
    form = ReviewForm()
    if form.validate_on_submit() and attempt(
            lambda: services.approve(plan, form.comment.data, current_user), form.comment):
        flash(_("The plan was approved and published."), "info")
        return redirect(url_for(".plan", plan_id=plan.id))
    return review_page(plan, form)


@school_blueprint.post("/items/<int:measure_id>/urge")
@require("plans.review")
def urge(measure_id: int) -> Any:
    """Urge an item (督办): an instruction and a date to report by; the school is told."""
    measure = db.get_or_404(Measure, measure_id)
    form = UrgeForm()
    if form.validate_on_submit() and attempt(
            lambda: ledger.urge(measure, form.instruction.data, form.due_on.data, current_user),
            form.due_on):
        flash(_("The school was urged."), "info")
        return redirect(url_for(".item", measure_id=measure.id))
    return item_page(measure, urge_form=form)


@school_blueprint.post("/items/<int:measure_id>/signoff")
@require("plans.review")
def sign_off(measure_id: int) -> Any:
    """Sign off an item (销号) once it is done with evidence and its opinions are closed."""
    measure = db.get_or_404(Measure, measure_id)
    form = ConfirmForm()
    if form.validate_on_submit() and attempt(
            lambda: ledger.sign_off(measure, form.note.data, current_user)):
        flash(_("The item was signed off."), "info")
    return redirect(url_for(".item", measure_id=measure.id))


@school_blueprint.post("/items/<int:measure_id>/reopen")
@require("plans.review")
def reopen(measure_id: int) -> Any:
    """Reopen a signed-off item, with a reason."""
    measure = db.get_or_404(Measure, measure_id)
    form = ReopenForm()
    if form.validate_on_submit() and attempt(
            lambda: ledger.reopen(measure, form.reason.data, current_user), form.reason):
        flash(_("The item was reopened."), "info")
        return redirect(url_for(".item", measure_id=measure.id))
    return item_page(measure, reopen_form=form)


# --- the bureau's own pages ---------------------------------------------------------------------


def _county(campaign: Any) -> dict[str, Any]:
    schools = schools_under(g.bureau)
    ids, today = [s.id for s in schools], local_date(g.bureau)
    if campaign is None:
        return {"schools": schools, "today": today}
    tallies = metrics.tallies(campaign, ids, today)
    statuses = metrics.plan_statuses(campaign, ids)
    return {"schools": schools, "today": today, "tallies": tallies, "statuses": statuses,
            "waiting": [s for s in schools if statuses.get(s.id) == SUBMITTED],
            "pending": [s for s in schools if statuses.get(s.id) != APPROVED],
            "sentences": {i: metrics.sentence(t) for i, t in tallies.items()},
            "county": metrics.sentence(metrics.county_tally(tallies)),
            "total": metrics.county_tally(tallies)}


@bureau_blueprint.get("/")
@require("plans.view")
def index() -> str:
    """Show the campaigns, the current stage and each school's plan and ledger in figures."""
    campaign = services.current_campaign(g.bureau)
    return render("plans/bureau_index.html", bureau=g.bureau, campaign=campaign,
                  campaigns=services.campaigns_of(g.bureau), **_county(campaign))


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
    """List the county's ledger items: all, due, overdue or recently changed."""
    which = request.args.get("list", "overdue")
    which = which if which in ledger.LISTS else "overdue"
    today = local_date(g.bureau)
    schools = schools_under(g.bureau)
    ids = [s.id for s in schools]
    school = next((s for s in schools if s.id == id_arg("school")), None)
    if school is not None:  # the umbrella view's link from one school's figure
        ids = [school.id]
    campaign_id = id_arg("campaign")
    campaign = services.campaign_of(g.bureau, campaign_id) if campaign_id is not None else None
    keep = {key: str(value.id) for key, value in (("school", school), ("campaign", campaign))
            if value is not None}
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
    overdue = (ledger.items(context["today"], "overdue", [s.id for s in context["schools"]])
               if campaign else [])
    return render("plans/summary.html", bureau=g.bureau, campaign=campaign, overdue=overdue,
                  **context)
