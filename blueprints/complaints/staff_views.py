"""School staff's pages: lists, a case and its workflow, staff entry, exports, files."""

from __future__ import annotations

import io
from typing import Any

import sqlalchemy as sa
from flask import abort, flash, g, redirect, send_file, url_for
from flask_babel import gettext as _
from flask_login import current_user
from wtforms.fields.choices import SelectChoice

from kaimen import audit, require
from kaimen.auth.access import user_can
from kaimen.auth.models import RoleGrant, User
from kaimen.extensions import db
from kaimen.pagination import paginate
from kaimen.safety import id_arg

from . import deadlines, lists, services
from .forms import (
    AcceptForm,
    AnswerForm,
    FindingsForm,
    NoteForm,
    RejectForm,
    RewardPaymentForm,
    TemplateForm,
    UrgeForm,
)
from .models import AnswerTemplate, Attachment, Complaint, with_leadership
from .uploads import safe_filename
from .views import bp, no_store, render


def sees_leadership() -> bool:
    """Tell whether the current user may see reports about the school's leadership."""
    return user_can(current_user, "complaints.oversee", g.org)


def load_case(complaint_id: int) -> Complaint:
    """Return the school's case, or 404 (a leadership report too, unless the bureau asks)."""
    statement = sa.select(Complaint).where(Complaint.id == complaint_id)
    if sees_leadership():
        statement = with_leadership(statement)
    case = db.session.scalar(statement)
    if case is None:
        abort(404)
    return case


def may_act(case: Complaint) -> bool:
    """Tell whether the current user may move ``case`` on (the bureau's cases: supervisors)."""
    if not user_can(current_user, "complaints.handle", g.org):
        return False
    if case.handled_by_bureau or case.about_leadership:
        return user_can(current_user, "complaints.supervise", g.org)
    return True


def owner_choices(case: Complaint | None) -> list[SelectChoice]:
    """Return who may be put in charge: the school's staff, or the bureau's for its cases."""
    school = g.school
    bureau_ids = [b.id for b in school.ancestors()]
    bureau_side = case is not None and (case.about_leadership or case.handled_by_bureau)
    condition = sa.and_(RoleGrant.org_id.in_(bureau_ids),
                        RoleGrant.role.in_(("supervisor", "bureau_admin")))
    if not bureau_side:
        condition = sa.or_(condition, RoleGrant.org_id == school.id)
    users = db.session.scalars(
        sa.select(User).join(RoleGrant).where(condition, User.active.is_(True))
        .distinct().order_by(User.display_name)
    )
    return [SelectChoice(u.id, u.display_name) for u in users]


def _today() -> Any:
    return deadlines.local_date(g.school.bureau())


@bp.get("/cases")
@require("complaints.view")
def cases() -> Any:
    """List the school's opinions with filters; overdue ones are flagged."""
    statement = lists.filtered(g.school.bureau(), leadership=sees_leadership(),
                               school_ids=[g.school.id])
    page = paginate(statement)
    values = lists.filter_values()
    return no_store(render("complaints/cases.html", page=page, values=values,
                           query=lists.query_string(values),
                           owners=owner_choices(None), today=_today(), school=g.school))


@bp.get("/cases/export.csv", defaults={"fmt": "csv"})
@bp.get("/cases/export.xlsx", defaults={"fmt": "xlsx"})
@require("complaints.view")
def export(fmt: str) -> Any:
    """Download the filtered list as CSV or Excel."""
    statement = lists.filtered(g.school.bureau(), leadership=sees_leadership(),
                               school_ids=[g.school.id])
    return lists.export(statement, fmt, f"opinions-{g.school.slug}", with_school=False,
                        leadership_column=sees_leadership(), today=_today())


@bp.get("/cases/<int:complaint_id>")
@require("complaints.view")
def show(complaint_id: int) -> Any:
    """Show a case with its timeline and the next steps."""
    case = load_case(complaint_id)
    return _case_page(case)


def _case_page(case: Complaint, status: int = 200, **forms: Any) -> Any:
    template_text = None
    if (template_id := id_arg("template")) is not None:
        chosen = db.session.get(AnswerTemplate, template_id)
        template_text = chosen.body if chosen is not None else None
    accept_form = forms.get("accept") or AcceptForm(formdata=None)
    accept_form.owner.choices = owner_choices(case)
    answer_form = forms.get("answer") or AnswerForm(formdata=None, answer=template_text)
    findings_form = forms.get("findings") or FindingsForm(formdata=None, obj=case)
    context = {
        "accept_form": accept_form,
        "reject_form": forms.get("reject") or RejectForm(formdata=None),
        "findings_form": findings_form,
        "answer_form": answer_form,
        "note_form": forms.get("note") or NoteForm(formdata=None),
        "urge_form": forms.get("urge") or UrgeForm(formdata=None),
        "reward_form": forms.get("reward") or RewardPaymentForm(formdata=None),
    }
    templates = db.session.scalars(sa.select(AnswerTemplate).order_by(AnswerTemplate.title)).all()
    return no_store(render(
        "complaints/case.html", case=case, today=_today(), may_act=may_act(case),
        may_supervise=user_can(current_user, "complaints.supervise", g.org),
        missing=services.missing_for_closing(case), templates=templates, school=g.school,
        **context,
    ), status)


def _step(complaint_id: int, form_name: str, form: Any, action: Any) -> Any:
    """Load, check, validate and apply one workflow step in one transaction."""
    case = load_case(complaint_id)
    if form_name in ("urge", "take_over"):
        allowed = user_can(current_user, "complaints.supervise", g.org)
    else:
        allowed = may_act(case)
    if not allowed:
        abort(403)
    if form is not None:
        if form_name == "accept":
            form.owner.choices = owner_choices(case)
        if not form.validate_on_submit():
            return _case_page(case, 400, **{form_name: form})
    try:
        action(case, form)
    except services.FourNotLetGo as refusal:
        db.session.rollback()
        flash(_("This case cannot be closed yet. Still missing: %(items)s.",
                items="; ".join(str(item) for item in refusal.missing)), "error")
        return _case_page(load_case(complaint_id), 409)
    except services.WorkflowError as error:
        db.session.rollback()
        flash(str(error.message), "error")
        return _case_page(load_case(complaint_id), 409)
    db.session.commit()
    flash(_("Saved."), "info")
    return redirect(url_for(".show", complaint_id=complaint_id))


def _owner(form: AcceptForm) -> User:
    owner = db.session.get(User, form.owner.data)
    assert owner is not None  # the choices held only existing users
    return owner


@bp.post("/cases/<int:complaint_id>/accept")
@require("complaints.handle")
def accept(complaint_id: int) -> Any:
    """Accept a case and put someone in charge of it."""
    return _step(complaint_id, "accept", AcceptForm(),
                 lambda case, form: services.accept(case, _owner(form), current_user,
                                                    form.note.data or ""))


@bp.post("/cases/<int:complaint_id>/reassign")
@require("complaints.handle")
def reassign(complaint_id: int) -> Any:
    """Put someone else in charge of an open case."""
    return _step(complaint_id, "accept", AcceptForm(),
                 lambda case, form: services.reassign(case, _owner(form), current_user))


@bp.post("/cases/<int:complaint_id>/reject")
@require("complaints.handle")
def reject(complaint_id: int) -> Any:
    """Decline a case with a reason the complainant can read."""
    return _step(complaint_id, "reject", RejectForm(), lambda case, form: services.reject(
        case, form.reason.data, form.explanation.data, current_user))


@bp.post("/cases/<int:complaint_id>/advance/verifying", defaults={"status": "verifying"})
@bp.post("/cases/<int:complaint_id>/advance/handling", defaults={"status": "handling"})
@require("complaints.handle")
def advance(complaint_id: int, status: str) -> Any:
    """Start verifying or handling a case."""
    return _step(complaint_id, "advance", None,
                 lambda case, _form: services.advance(case, status, current_user))


@bp.post("/cases/<int:complaint_id>/findings")
@require("complaints.handle")
def findings(complaint_id: int) -> Any:
    """Record the finding, the verified facts, the action and the correction."""
    return _step(complaint_id, "findings", FindingsForm(),
                 lambda case, form: services.record_findings(
                     case, form.finding.data, form.verified_facts.data, form.action_taken.data,
                     form.correction.data or "", current_user))


@bp.post("/cases/<int:complaint_id>/answer")
@require("complaints.handle")
def answer(complaint_id: int) -> Any:
    """Answer the complainant."""
    return _step(complaint_id, "answer", AnswerForm(),
                 lambda case, form: services.answer(case, form.answer.data, current_user))


@bp.post("/cases/<int:complaint_id>/close")
@require("complaints.handle")
def close(complaint_id: int) -> Any:
    """Close an answered case when the four not-let-go conditions are met."""
    return _step(complaint_id, "close", None,
                 lambda case, _form: services.close(case, current_user))


@bp.post("/cases/<int:complaint_id>/note")
@require("complaints.handle")
def note(complaint_id: int) -> Any:
    """Add an internal note to the timeline."""
    return _step(complaint_id, "note", NoteForm(),
                 lambda case, form: services.note(case, form.text.data, current_user))


@bp.post("/cases/<int:complaint_id>/reward")
@require("complaints.handle")
def reward(complaint_id: int) -> Any:
    """Mark a substantiated three-disorders report for the reporting reward."""
    return _step(complaint_id, "reward_mark", None,
                 lambda case, _form: services.mark_reward(case, current_user))


@bp.post("/cases/<int:complaint_id>/reward/paid")
@require("complaints.handle")
def reward_paid(complaint_id: int) -> Any:
    """Record the payment of a reporting reward."""
    return _step(complaint_id, "reward", RewardPaymentForm(), lambda case, form:
                 services.record_reward_payment(case, form.amount.data, form.paid_on.data,
                                                current_user))


@bp.post("/cases/<int:complaint_id>/urge")
@require("complaints.supervise")
def urge(complaint_id: int) -> Any:
    """Urge a case (督办): an instruction and a new deadline."""
    return _step(complaint_id, "urge", UrgeForm(), lambda case, form: services.urge(
        case, form.note.data, form.new_due.data, current_user))


@bp.post("/cases/<int:complaint_id>/take-over")
@require("complaints.supervise")
def take_over(complaint_id: int) -> Any:
    """Let the bureau handle the case itself."""
    return _step(complaint_id, "take_over", None,
                 lambda case, _form: services.take_over(case, current_user))


@bp.get("/cases/<int:complaint_id>/files/<int:attachment_id>")
@require("complaints.view")
def attachment(complaint_id: int, attachment_id: int) -> Any:
    """Download a file of a case: always as an attachment, never rendered."""
    case = load_case(complaint_id)
    stored = db.session.scalar(sa.select(Attachment).where(
        Attachment.id == attachment_id, Attachment.complaint_id == case.id))
    if stored is None:
        abort(404)
    response = send_file(io.BytesIO(stored.content), mimetype=stored.content_type,
                         as_attachment=True, download_name=safe_filename(stored.filename))
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.route("/templates", methods=["GET", "POST"])
@require("complaints.handle")
def templates() -> Any:
    """List and add the school's answer templates."""
    form = TemplateForm()
    if form.validate_on_submit():
        template = AnswerTemplate(title=form.title.data, body=form.body.data)
        db.session.add(template)
        audit.record("complaint.template_added", template, school=g.school)
        db.session.commit()
        flash(_("The template was saved."), "info")
        return redirect(url_for(".templates"))
    rows = db.session.scalars(sa.select(AnswerTemplate).order_by(AnswerTemplate.title)).all()
    return render("complaints/templates.html", form=form, rows=rows, school=g.school)


@bp.post("/templates/<int:answer_template_id>/delete")
@require("complaints.handle")
def delete_template(answer_template_id: int) -> Any:
    """Remove an answer template."""
    template = db.get_or_404(AnswerTemplate, answer_template_id)
    db.session.delete(template)
    audit.record("complaint.template_removed", school=g.school, data={"id": answer_template_id})
    db.session.commit()
    flash(_("The template was removed."), "info")
    return redirect(url_for(".templates"))
