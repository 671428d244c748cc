"""A plan's owner's pages: drafting and submitting its plan, reporting progress on its ledger.

Each answers on a school's URLs and on the bureau's own-plan URLs (see ``views.shared``).
"""

from __future__ import annotations

import io
from typing import Any

from flask import flash, redirect, request, send_file, url_for
from flask_babel import gettext as _
from flask_login import current_user

from kaimen import db, table_response, user_can
from kaimen.uploads import MAX_BYTES, UploadError, download_name, read_uploads

from .. import bulk, ledger, metrics, services
from ..forms import BulkForm, ConfirmForm, MeasureForm, ProblemForm, ProgressForm
from ..models import Evidence, Measure, Plan, Problem
from . import MANAGE, attempt, owned, owner, render, review_forms, shared


def _can_manage() -> bool:
    """Tell whether the user drafts the owner's plan and reports its progress."""
    return user_can(current_user, services.manage_permission(owner()), owner())


def _measure_form(**kwargs: Any) -> MeasureForm:
    """Return the measure form; on the bureau's plan it offers the bureau's units."""
    form = MeasureForm(**kwargs)
    if not owner().is_school:
        form.responsible_unit.render_kw = {"list": "plan-units"}
    return form


def _problem_form(formdata: Any = None, obj: Any = None) -> ProblemForm:
    form = ProblemForm(formdata=formdata, obj=obj)
    form.cases.choices = [(case_id, f"#{case_id} {subject}")
                          for case_id, subject in services.case_choices(owner())]
    return form


def plan_page(plan: Plan, **forms: Any) -> str:
    """Render a plan with its problems, measures, reviewer's comments and forms."""
    ids = sorted({case for problem in plan.problems for case in problem.cases})
    return render(
        "plans/plan.html", plan=plan, numbers=services.numbered(plan),
        cases=services.linked_cases(owner(), ids), returned=services.returned_comments(plan),
        can_edit=plan.editable and _can_manage(),
        can_review=user_can(current_user, "plans.review", owner()),
        problem_form=forms.get("problem_form") or _problem_form(),
        confirm_form=ConfirmForm(formdata=None),
        blockers=services.submission_problems(plan) if plan.editable else [],
    )


@shared("/manage", "plans.view")
def manage() -> str:
    """List the school's plans, one per campaign."""
    return render("plans/manage.html", plans=services.plans_of(owner()))


@shared("/<int:plan_id>", "plans.view")
def plan(plan_id: int) -> str:
    """Show a plan: its problems and measures, and the forms to change a draft."""
    return plan_page(owned(Plan, plan_id))


@shared("/<int:plan_id>/problems", MANAGE, methods=("POST",))
def add_problem(plan_id: int) -> Any:
    """Add a problem to the plan."""
    plan = owned(Plan, plan_id)
    form = _problem_form(request.form)
    if form.validate_on_submit() and attempt(
            lambda: services.add_problem(plan, current_user, **form.content()), form.description):
        flash(_("The problem was added."), "info")
        return redirect(url_for(".plan", plan_id=plan.id))
    return plan_page(plan, problem_form=form)


@shared("/problems/<int:problem_id>/edit", MANAGE, methods=("GET", "POST"))
def edit_problem(problem_id: int) -> Any:
    """Change a problem of the plan."""
    problem = owned(Problem, problem_id)
    form = _problem_form(request.form if request.method == "POST" else None, obj=problem)
    if form.validate_on_submit():
        attempt(lambda: services.edit_problem(problem, current_user, **form.content()),
                form.description)
        if not form.description.errors:
            return redirect(url_for(".plan", plan_id=problem.plan_id))
    return render("plans/edit_problem.html", problem=problem, form=form)


@shared("/problems/<int:problem_id>/delete", MANAGE, methods=("POST",))
def delete_problem(problem_id: int) -> Any:
    """Remove a problem and its measures from the plan."""
    problem = owned(Problem, problem_id)
    plan_id = problem.plan_id
    if ConfirmForm().validate_on_submit():
        attempt(lambda: services.delete_problem(problem, current_user))
    return redirect(url_for(".plan", plan_id=plan_id))


@shared("/problems/<int:problem_id>/measures", MANAGE, methods=("GET", "POST"))
def add_measure(problem_id: int) -> Any:
    """Add a measure to a problem."""
    problem = owned(Problem, problem_id)
    form = _measure_form()
    if form.validate_on_submit() and attempt(
            lambda: services.add_measure(problem, current_user, **form.content()), form.deadline):
        flash(_("The measure was added."), "info")
        return redirect(url_for(".plan", plan_id=problem.plan_id))
    return render("plans/measure_form.html", problem=problem, measure=None, form=form,
                  campaign=problem.plan.campaign, units=services.unit_names(owner()))


@shared("/measures/<int:measure_id>/edit", MANAGE, methods=("GET", "POST"))
def edit_measure(measure_id: int) -> Any:
    """Change a measure of the plan."""
    measure = owned(Measure, measure_id)
    form = _measure_form(formdata=request.form if request.method == "POST" else None,
                         obj=measure)
    if form.validate_on_submit():
        attempt(lambda: services.edit_measure(measure, current_user, **form.content()),
                form.deadline)
        if not form.deadline.errors:
            return redirect(url_for(".plan", plan_id=measure.plan_id))
    return render("plans/measure_form.html", problem=measure.problem, measure=measure,
                  form=form, campaign=measure.problem.plan.campaign,
                  units=services.unit_names(owner()))


@shared("/measures/<int:measure_id>/delete", MANAGE, methods=("POST",))
def delete_measure(measure_id: int) -> Any:
    """Remove a measure from the plan."""
    measure = owned(Measure, measure_id)
    plan_id = measure.plan_id
    if ConfirmForm().validate_on_submit():
        attempt(lambda: services.delete_measure(measure, current_user))
    return redirect(url_for(".plan", plan_id=plan_id))


@shared("/<int:plan_id>/submit", MANAGE, methods=("POST",))
def submit(plan_id: int) -> Any:
    """Submit the plan to the bureau for review, as a new version."""
    plan = owned(Plan, plan_id)
    if ConfirmForm().validate_on_submit() and attempt(
            lambda: services.submit(plan, current_user)):
        flash(_("The plan was submitted to the bureau for review."), "info")
    return redirect(url_for(".plan", plan_id=plan.id))


# --- the ledger --------------------------------------------------------------------------------


@shared("/ledger", "plans.view")
def ledger_list() -> str:
    """List the school's ledger items: all, due, overdue or recently changed."""
    which = request.args.get("list", "all")
    which = which if which in ledger.LISTS else "all"
    today = ledger.school_today(owner())
    campaign = services.current_campaign(owner().bureau())
    summary = (metrics.sentence(metrics.tallies(campaign, [owner().id], today)[owner().id])
               if campaign else None)
    items = ledger.items(today, which, [owner().id])
    return render("plans/ledger.html", ledger_items=items, which=which,
                  summary=summary, campaign=campaign,
                  lists=ledger.LISTS, today=today, bulk_form=BulkForm(formdata=None),
                  can_manage=_can_manage())


@shared("/ledger/export", "plans.view")
def ledger_export() -> Any:
    """Download the school's ledger as Excel (or ``?format=csv``), to edit and send back."""
    fmt = "csv" if request.args.get("format") == "csv" else "xlsx"
    items = ledger.items(ledger.school_today(owner()), school_ids=[owner().id])
    return table_response(f"ledger-{owner().slug}", bulk.HEADERS, bulk.rows(items), fmt)


@shared("/ledger/import", MANAGE, methods=("POST",))
def ledger_import() -> Any:
    """Update statuses and notes from an edited ledger file: all rows or none."""
    form = BulkForm()
    storage = form.upload.data if form.validate_on_submit() else None
    errors: list[bulk.RowError] = []
    if storage is None or not getattr(storage, "filename", ""):
        flash(_("Choose the edited ledger file."), "error")
        return redirect(url_for(".ledger_list"))
    content = storage.stream.read(MAX_BYTES + 1)
    if len(content) > MAX_BYTES:
        flash(_("The file is larger than 5 MB."), "error")
        return redirect(url_for(".ledger_list"))
    items = ledger.items(ledger.school_today(owner()), school_ids=[owner().id])
    try:
        changed = bulk.import_file(storage.filename, content, items, current_user)
    except bulk.BulkError as error:
        db.session.rollback()
        errors = error.errors
    except services.PlanError as error:
        db.session.rollback()
        flash(str(error), "error")
        return redirect(url_for(".ledger_list"))
    else:
        db.session.commit()
        flash(_("%(count)d items were updated.", count=changed), "info")
        return redirect(url_for(".ledger_list"))
    return render("plans/import_errors.html", errors=errors)


def item_page(measure: Measure, **forms: Any) -> str:
    """Render a ledger item: its record, evidence and the forms the user may use."""
    return render("plans/item.html", item=measure, today=ledger.school_today(owner()),
                  cases=services.linked_cases(owner(), measure.problem.cases),
                  can_manage=_can_manage(),
                  can_review=user_can(current_user, "plans.review", owner()),
                  refusals=ledger.sign_off_refusals(measure) if not measure.signed_off else [],
                  progress_form=forms.get("progress_form") or ProgressForm(
                      formdata=None, status=measure.status),
                  **review_forms(forms))


@shared("/items/<int:measure_id>", "plans.view")
def item(measure_id: int) -> str:
    """Show a ledger item with its progress, urging and sign-off record."""
    return item_page(owned(Measure, measure_id))


@shared("/items/<int:measure_id>/progress", MANAGE, methods=("POST",))
def progress(measure_id: int) -> Any:
    """Report progress on an item: status, what was done, evidence."""
    measure = owned(Measure, measure_id)
    form = ProgressForm()
    if form.validate_on_submit():
        try:
            uploads = read_uploads(request.files.getlist(form.evidence.name))
        except UploadError as error:
            form.evidence.errors = [str(error)]
        else:
            if attempt(lambda: services_progress(measure, form, uploads), form.text) is not None:
                flash(_("The progress was recorded."), "info")
                return redirect(url_for(".item", measure_id=measure.id))
    return item_page(measure, progress_form=form)


def services_progress(measure: Measure, form: ProgressForm, uploads: list) -> bool:
    """Report the form's progress through the ledger's rules."""
    return ledger.report_progress(measure, form.status.data, form.text.data, uploads,
                                  current_user)


@shared("/evidence/<int:evidence_id>", "plans.view")
def evidence(evidence_id: int) -> Any:
    """Download an evidence file: always as an attachment, never rendered."""
    stored = owned(Evidence, evidence_id)
    response = send_file(
        io.BytesIO(stored.content), mimetype=stored.content_type, as_attachment=True,
        download_name=download_name(stored.filename, stored.content_type),
    )
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response
