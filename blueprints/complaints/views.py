"""The public side of the box: the form, the proof of filing, and follow-up by receipt."""

from __future__ import annotations

import re
import secrets
from typing import Any

import sqlalchemy as sa
from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    g,
    make_response,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
from sqlalchemy.exc import IntegrityError

from kaimen import public, receipts
from kaimen.extensions import db, limiter
from kaimen.tenancy import all_schools

from . import services
from .choices import (
    ACTIONS,
    CATEGORIES,
    CHANNELS,
    FINDINGS,
    KINDS,
    REJECTION_REASONS,
    REWARD_STATUSES,
    STATUSES,
)
from .forms import FeedbackForm, InformationForm, OpinionForm
from .models import Complaint, with_leadership
from .uploads import UploadError, read_uploads

NAME = "complaints"
bp = Blueprint(NAME, __name__, template_folder="templates", static_folder="static")


def _client_limit() -> str:
    return current_app.config.get("COMPLAINTS_CLIENT_LIMIT", "6 per minute;40 per day")


def _school_limit() -> str:
    return current_app.config.get("COMPLAINTS_SCHOOL_LIMIT", "120 per hour")


def _school_key() -> str:
    return f"complaints-school:{g.school.slug}"


@bp.after_request
def _no_store(response: Any) -> Any:
    # Pages of the box show cases, receipt codes or personal contacts: never cache them.
    response.headers["Cache-Control"] = "no-store"
    return response


def render(template: str, **context: Any) -> str:
    """Render a template of the box with its vocabularies at hand."""
    school = context.get("school") or g.get("school")
    if school is not None:
        css = url_for("complaints.static", school=school.slug, filename="complaints.css")
    else:
        css = url_for("complaints_bureau.static", bureau=g.bureau.slug, filename="complaints.css")
    return render_template(
        template, statuses=STATUSES, kinds=KINDS, categories=CATEGORIES, channels=CHANNELS,
        actions=ACTIONS, findings=FINDINGS, reasons=REJECTION_REASONS, rewards=REWARD_STATUSES,
        is_overdue=services.is_overdue, complaints_css=css, **context,
    )


def no_store(body: Any, status: int = 200) -> Any:
    response = make_response(body, status)
    response.headers["Cache-Control"] = "no-store"
    return response


def submission_from(form: Any, channel: str = "online", received_on: Any = None) -> Any:
    """Turn a filled opinion form into a ``Submission``."""
    named = form.identity.data == "named"
    return services.Submission(
        kind=form.kind.data, category=form.category.data, subject=form.subject.data,
        description=form.description.data, channel=channel, anonymous=not named,
        contact_name=form.contact_name.data or None if named else None,
        contact_phone=form.contact_phone.data or None if named else None,
        contact_email=form.contact_email.data or None if named else None,
        about_leadership=bool(form.about_leadership.data),
        reference=(getattr(form, "reference", None) and form.reference.data) or None,
        received_on=received_on,
    )


def _valid_token(token: str | None) -> bool:
    return bool(token) and re.fullmatch(r"[A-Za-z0-9_-]{20,64}", token or "") is not None


@bp.route("/", methods=["GET", "POST"])
@public
@limiter.limit(_client_limit, methods=["POST"])
@limiter.limit(_school_limit, key_func=_school_key, methods=["POST"])
def new() -> Any:
    """Show the box's form; file an opinion and show its receipt once."""
    school = g.school
    form = OpinionForm()
    if request.method == "GET":
        form.reference.data = request.args.get("ref", "")[:80]
        form.subject.data = request.args.get("title", "")[:120]
    if not _valid_token(form.token.data):
        form.token.data = secrets.token_urlsafe(24)
    elif request.method == "POST":
        earlier = services.find_by_token(school, form.token.data)
        if earlier is not None:
            return _receipt(earlier, services.unseal(earlier, form.token.data))
    if form.validate_on_submit():
        if form.website.data:
            return no_store(render("complaints/new.html", form=form, school=school,
                                            refused=True), 400)
        try:
            uploads = read_uploads(request.files.getlist(form.attachments.name))
        except UploadError as error:
            form.attachments.errors = [str(error.message)]
        else:
            return _file(school, form, uploads)
    return no_store(render("complaints/new.html", form=form, school=school))


def _file(school: Any, form: OpinionForm, uploads: list[Any]) -> Any:
    token = form.token.data
    try:
        case, code = services.file_case(school, submission_from(form), uploads, token=token)
        db.session.commit()
    except IntegrityError:
        # The same form arrived twice at once: show the receipt of the one that won.
        db.session.rollback()
        earlier = services.find_by_token(school, token)
        if earlier is None:
            raise
        return _receipt(earlier, services.unseal(earlier, token))
    return _receipt(case, code)


def _receipt(case: Complaint, code: str | None) -> Any:
    return no_store(render("complaints/receipt.html", case=case, code=code,
                                    school=case.school))


def load_by_receipt(receipt: Any) -> Complaint | None:
    """Return the case a receipt of this plugin leads to (the code is the parent's key)."""
    if receipt is None or receipt.plugin != NAME:
        return None
    return db.session.scalar(all_schools(with_leadership(
        sa.select(Complaint).where(Complaint.id == receipt.object_id,
                                   Complaint.school_id == receipt.school_id)
    )))


def tracking_page(case: Complaint, code: str, info: Any = None, verdict: Any = None,
                  status: int = 200) -> Any:
    """Render the case's public timeline with the forms a complainant may use."""
    info = info or InformationForm(formdata=None, code=code)
    verdict = verdict or FeedbackForm(formdata=None, code=code)
    events = [e for e in case.events if e.public]
    return no_store(render(
        "complaints/track.html", case=case, school=case.school, events=events,
        info_form=info, feedback_form=verdict,
        may_add=case.status != "closed",
        may_judge=case.status in ("answered", "closed", "not_accepted") and case.satisfied is None,
    ), status)


@bp.post("/track")
@public
@limiter.limit("30 per minute")
def track_action() -> Any:
    """Add information to a case, or say whether the answer satisfies, by receipt code."""
    code = request.form.get("code", "")
    receipt = receipts.lookup(code)
    if receipt is None or receipt.school_id != g.school.id:
        abort(404)
    case = load_by_receipt(receipt)
    if case is None:
        abort(404)
    info, verdict = InformationForm(), FeedbackForm()
    action = request.form.get("action")
    try:
        if action == "information" and info.validate():
            services.add_information(case, info.text.data)
        elif action == "feedback" and verdict.validate():
            services.feedback(case, verdict.verdict.data == "yes", verdict.comment.data or "")
        else:
            return tracking_page(case, code, info if action == "information" else None,
                                 verdict if action == "feedback" else None, status=400)
    except services.WorkflowError as error:
        db.session.rollback()
        flash(str(error.message), "error")
        return tracking_page(load_by_receipt(receipt) or case, code, status=409)
    db.session.commit()
    flash(_("Thank you. What you sent was added to the case."), "info")
    return tracking_page(case, code)


def track_receipt(receipt: Any) -> Any:
    """Answer ``/track`` for one of this plugin's receipts."""
    case = load_by_receipt(receipt)
    if case is None:
        return None
    return tracking_page(case, request.form.get("code", ""))
