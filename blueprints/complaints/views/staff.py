"""School staff's pages: lists, a case and its workflow, staff entry, exports, files."""

from __future__ import annotations

import io
from collections.abc import Callable
from datetime import date
from typing import Any

from flask import abort, flash, g, redirect, request, send_file, url_for
from flask_babel import format_date
from flask_babel import gettext as _
from flask_login import current_user
from wtforms.fields.choices import SelectChoice

from kaimen import ROLE_LABELS, User, db, id_arg, local_date, paginate, require, user_can
from kaimen.uploads import UploadError, download_name, read_uploads

from .. import lists, queries, services
from ..blueprint import school_blueprint as bp
from ..forms import (
    AcceptForm,
    AnswerForm,
    BatchForm,
    FindingsForm,
    InstructionForm,
    NoteForm,
    RejectForm,
    RewardPaymentForm,
    StaffEntryForm,
    TakeOverForm,
    TemplateForm,
    UrgeForm,
    submission_from,
)
from ..models import AnswerTemplate, Complaint
from . import render


def sees_leadership() -> bool:
    """Tell whether the current user may see reports about the school's leadership."""
    return user_can(current_user, "complaints.oversee", g.org)


def load_case(complaint_id: int) -> Complaint:
    """Return the school's case, or 404 (a leadership report too, unless the bureau asks);
    403 for staff who may neither see every case nor are in charge of this one."""
    case = queries.find_case(complaint_id, leadership=sees_leadership())
    if case is None:
        abort(404)
    if not may_open(case):
        abort(403)
    return case


# What the person in charge of a case may do to it, whatever else their role allows.
OWNER_STEPS = ("advance", "findings", "answer", "note")


def in_charge(case: Complaint) -> bool:
    """Tell whether the current user is the case's person in charge (首问责任人)."""
    return case.owner_id is not None and case.owner_id == current_user.id


def may_open(case: Complaint) -> bool:
    """Tell whether the current user may open ``case``: all the school's, or their own."""
    return user_can(current_user, "complaints.view", g.org) or in_charge(case)


def may_act(case: Complaint) -> bool:
    """Tell whether the current user may move ``case`` on (the bureau's cases: supervisors)."""
    if not user_can(current_user, "complaints.handle", g.org):
        return False
    if case.handled_by_bureau or case.about_leadership:
        return user_can(current_user, "complaints.supervise", g.org)
    return True


def may_work(case: Complaint) -> bool:
    """Tell whether the current user may verify, handle, answer and annotate ``case``."""
    return may_act(case) or (in_charge(case) and user_can(current_user, "complaints.work", g.org))


def person_label(person: User) -> str:
    """Return a person's name with their roles at the school, as a choice shows it."""
    roles = sorted(str(ROLE_LABELS[role]) for role in person.roles_on(g.school)
                   if role in ROLE_LABELS)
    if not roles:
        return person.display_name
    return _("%(name)s (%(roles)s)", name=person.display_name, roles=_(", ").join(roles))


def owner_choices(case: Complaint | None, *, blank: bool = False) -> list[SelectChoice]:
    """Return who may be put in charge of ``case``, as choices of a select field; with
    ``blank``, a first choice that chooses nobody (there is no default person in charge)."""
    choices = [SelectChoice(u.id, person_label(u))
               for u in queries.possible_owners(g.school, case)]
    if blank:
        choices.insert(0, SelectChoice(0, _("Choose who is in charge")))
    return choices


def _today() -> date:
    return local_date(g.school.bureau())


@bp.get("/cases")
@require("complaints.view")
def cases() -> Any:
    """List the school's opinions with filters; overdue ones are flagged."""
    statement = lists.filtered(g.school.bureau(), leadership=sees_leadership(),
                               school_ids=[g.school.id])
    page = paginate(statement)
    values = lists.filter_values()
    return render("complaints/cases.html", page=page, values=values,
                  query=lists.query_string(values), owners=owner_choices(None), today=_today(),
                  school=g.school)


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
@require("complaints.open")
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
    accept_form.owner.choices = owner_choices(case, blank=True)
    answer_form = forms.get("answer") or AnswerForm(formdata=None, answer=template_text)
    findings_form = forms.get("findings") or FindingsForm(formdata=None, obj=case)
    context = {
        "accept_form": accept_form,
        "reject_form": forms.get("reject") or RejectForm(formdata=None),
        "findings_form": findings_form,
        "answer_form": answer_form,
        "note_form": forms.get("note") or NoteForm(formdata=None),
        "urge_form": forms.get("urge") or UrgeForm(formdata=None),
        "take_over_form": forms.get("take_over") or TakeOverForm(formdata=None),
        "instruction_form": forms.get("instruction") or InstructionForm(formdata=None),
        "reward_form": forms.get("reward") or RewardPaymentForm(formdata=None),
    }
    templates = queries.answer_templates()
    return render(
        "complaints/case.html", case=case, today=_today(), may_act=may_act(case),
        may_work=may_work(case),
        may_instruct=user_can(current_user, "complaints.instruct", g.org),
        may_supervise=user_can(current_user, "complaints.supervise", g.org),
        missing=services.missing_for_closing(case), templates=templates, school=g.school,
        **context,
    ), status


def _step(complaint_id: int, form_name: str, form: Any, action: Any,
          done: Callable[[Complaint], str]) -> Any:
    """Load, check, validate and apply one workflow step in one transaction; say what
    happened (``done``) on the case's page."""
    case = load_case(complaint_id)
    if form_name in ("urge", "take_over"):
        allowed = user_can(current_user, "complaints.supervise", g.org)
    elif form_name == "instruction":
        allowed = user_can(current_user, "complaints.instruct", g.org)
    elif form_name in OWNER_STEPS:
        allowed = may_work(case)
    else:
        allowed = may_act(case)
    if not allowed:
        abort(403)
    if form is not None:
        if form_name == "accept":
            form.owner.choices = owner_choices(case, blank=True)
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
    flash(done(case), "info")
    if form_name == "accept" and case.owner is not None and not queries.reachable(case.owner):
        flash(_("%(name)s has no e-mail address or phone number in their account, so they were "
                "not notified: tell them yourself.", name=case.owner.display_name), "warning")
    return redirect(url_for(".show", complaint_id=complaint_id))


def _in_charge_now(case: Complaint) -> str:
    return case.owner.display_name if case.owner is not None else "—"


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
                                                    form.note.data or ""),
                 lambda case: _("Accepted. Person in charge: %(name)s.",
                                name=_in_charge_now(case)))


@bp.post("/cases/<int:complaint_id>/reassign")
@require("complaints.handle")
def reassign(complaint_id: int) -> Any:
    """Put someone else in charge of an open case."""
    return _step(complaint_id, "accept", AcceptForm(),
                 lambda case, form: services.reassign(case, _owner(form), current_user),
                 lambda case: _("The person in charge is now %(name)s.",
                                name=_in_charge_now(case)))


@bp.post("/cases/<int:complaint_id>/reject")
@require("complaints.handle")
def reject(complaint_id: int) -> Any:
    """Decline a case with a reason the complainant can read."""
    return _step(complaint_id, "reject", RejectForm(), lambda case, form: services.reject(
        case, form.reason.data, form.explanation.data, current_user),
        lambda case: _("Not accepted. The complainant can read the explanation."))


@bp.post("/cases/<int:complaint_id>/advance/verifying", defaults={"status": "verifying"})
@bp.post("/cases/<int:complaint_id>/advance/handling", defaults={"status": "handling"})
@require("complaints.work")
def advance(complaint_id: int, status: str) -> Any:
    """Start verifying or handling a case."""
    return _step(complaint_id, "advance", None,
                 lambda case, _form: services.advance(case, status, current_user),
                 lambda case: _("Verification started.") if status == "verifying"
                 else _("Handling started."))


@bp.post("/cases/<int:complaint_id>/findings")
@require("complaints.work")
def findings(complaint_id: int) -> Any:
    """Record the finding, the verified facts, the action and the correction."""
    return _step(complaint_id, "findings", FindingsForm(),
                 lambda case, form: services.record_findings(
                     case, form.finding.data, form.verified_facts.data, form.action_taken.data,
                     form.correction.data or "", current_user),
                 lambda case: _("The findings were recorded."))


@bp.post("/cases/<int:complaint_id>/answer")
@require("complaints.work")
def answer(complaint_id: int) -> Any:
    """Answer the complainant."""
    return _step(complaint_id, "answer", AnswerForm(),
                 lambda case, form: services.answer(case, form.answer.data, current_user),
                 lambda case: _("The answer was sent. The complainant reads it with the "
                                "receipt code."))


@bp.post("/cases/<int:complaint_id>/close")
@require("complaints.handle")
def close(complaint_id: int) -> Any:
    """Close an answered case when the four not-let-go conditions are met."""
    return _step(complaint_id, "close", None,
                 lambda case, _form: services.close(case, current_user),
                 lambda case: _("The case is closed."))


@bp.post("/cases/<int:complaint_id>/note")
@require("complaints.work")
def note(complaint_id: int) -> Any:
    """Add an internal note to the timeline."""
    return _step(complaint_id, "note", NoteForm(),
                 lambda case, form: services.note(case, form.text.data, current_user),
                 lambda case: _("The internal note was added."))


@bp.post("/cases/<int:complaint_id>/reward")
@require("complaints.handle")
def reward(complaint_id: int) -> Any:
    """Mark a substantiated three-disorders report for the reporting reward."""
    return _step(complaint_id, "reward_mark", None,
                 lambda case, _form: services.mark_reward(case, current_user),
                 lambda case: _("The case is marked for the reporting reward."))


@bp.post("/cases/<int:complaint_id>/reward/paid")
@require("complaints.handle")
def reward_paid(complaint_id: int) -> Any:
    """Record the payment of a reporting reward."""
    return _step(complaint_id, "reward", RewardPaymentForm(), lambda case, form:
                 services.record_reward_payment(case, form.amount.data, form.paid_on.data,
                                                current_user),
                 lambda case: _("The reward payment was recorded."))


@bp.post("/cases/<int:complaint_id>/urge")
@require("complaints.supervise")
def urge(complaint_id: int) -> Any:
    """Urge a case (督办): an instruction and a new deadline."""
    return _step(complaint_id, "urge", UrgeForm(), lambda case, form: services.urge(
        case, form.note.data, form.new_due.data, current_user),
        lambda case: _("Urged. The new answer deadline is %(date)s.",
                       date=format_date(case.answer_due, "long")))


@bp.post("/cases/<int:complaint_id>/instruction")
@require("complaints.instruct")
def instruction(complaint_id: int) -> Any:
    """Add a bureau leader's instruction (批示) to a case."""
    return _step(complaint_id, "instruction", InstructionForm(),
                 lambda case, form: services.instruct(case, form.instruction.data, current_user),
                 lambda case: _("The instruction was added. The person in charge and the "
                                "school's administrators are told."))


@bp.post("/cases/<int:complaint_id>/take-over")
@require("complaints.supervise")
def take_over(complaint_id: int) -> Any:
    """Let the bureau handle the case itself."""
    return _step(complaint_id, "take_over", TakeOverForm(),
                 lambda case, _form: services.take_over(case, current_user),
                 lambda case: _("Taken over. The bureau handles the case; you are in charge."))


@bp.get("/cases/<int:complaint_id>/files/<int:attachment_id>")
@require("complaints.open")
def attachment(complaint_id: int, attachment_id: int) -> Any:
    """Download a file of a case: always as an attachment, never rendered."""
    case = load_case(complaint_id)
    stored = queries.attachment_of(case, attachment_id)
    if stored is None:
        abort(404)
    response = send_file(
        io.BytesIO(stored.content), mimetype=stored.content_type, as_attachment=True,
        download_name=download_name(stored.filename, stored.content_type),
    )
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


@bp.route("/templates", methods=["GET", "POST"])
@require("complaints.handle")
def templates() -> Any:
    """List and add the school's answer templates."""
    form = TemplateForm()
    if form.validate_on_submit():
        services.add_template(g.school, form.title.data, form.body.data)
        db.session.commit()
        flash(_("The template was saved."), "info")
        return redirect(url_for(".templates"))
    return render("complaints/templates.html", form=form, rows=queries.answer_templates(),
                  school=g.school)


@bp.post("/templates/<int:answer_template_id>/delete")
@require("complaints.handle")
def delete_template(answer_template_id: int) -> Any:
    """Remove an answer template."""
    template = db.get_or_404(AnswerTemplate, answer_template_id)
    services.remove_template(g.school, template)
    db.session.commit()
    flash(_("The template was removed."), "info")
    return redirect(url_for(".templates"))


@bp.route("/enter", methods=["GET", "POST"])
@require("complaints.enter")
def enter() -> Any:
    """Copy in an opinion received on paper, by phone, in person or by letter."""
    form = StaffEntryForm()
    if request.method == "GET":
        form.received_on.data = _today()
    if form.validate_on_submit():
        if form.received_on.data > _today():
            form.received_on.errors = [_("The date cannot be in the future.")]
        else:
            try:
                uploads = read_uploads(request.files.getlist(form.attachments.name))
            except UploadError as error:
                form.attachments.errors = [str(error.message)]
            else:
                submission = submission_from(form, form.channel.data, form.received_on.data)
                case, code = services.file_case(g.school, submission, uploads, actor=current_user)
                db.session.commit()
                may_open = user_can(current_user, "complaints.view", g.org) and (
                    not case.about_leadership
                    or user_can(current_user, "complaints.oversee", g.org))
                return render("complaints/receipt.html", case=case, code=code,
                              school=g.school, staff=True, may_open=may_open)
    return render("complaints/enter.html", form=form, school=g.school)


@bp.route("/batch", methods=["GET", "POST"])
@require("complaints.enter")
def batch() -> Any:
    """Enter a pile of paper forms of one channel and day in one go."""
    form = BatchForm()
    if request.method == "GET":
        form.received_on.data = _today()
    if form.validate_on_submit():
        filled = [row for row in form.rows if row.subject.data or row.text.data]
        for row in filled:
            if not row.subject.data:
                row.subject.errors = [_("Give it a short subject.")]
            if not row.text.data:
                row.text.errors = [_("Describe the matter.")]
        if form.received_on.data > _today():
            form.received_on.errors = [_("The date cannot be in the future.")]
        elif not filled:
            flash(_("Fill in at least one form."), "error")
        elif not any(row.subject.errors or row.text.errors for row in filled):
            services.file_batch(g.school, [services.Submission(
                kind=row.kind.data, category=row.category.data, subject=row.subject.data,
                description=row.text.data, channel=form.channel.data,
                received_on=form.received_on.data) for row in filled], current_user)
            db.session.commit()
            flash(_("%(count)d opinions were entered.", count=len(filled)), "info")
            return redirect(url_for(".batch"))
    return render("complaints/batch.html", form=form, school=g.school)
