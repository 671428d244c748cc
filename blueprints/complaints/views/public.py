"""The public side of the box: the form, the proof of filing, and follow-up by receipt."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from typing import Any

from flask import abort, current_app, flash, g, make_response, request, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from sqlalchemy.exc import IntegrityError

from kaimen import (
    Organisation,
    cached_form,
    cached_form_page,
    db,
    end_of_local_day,
    limiter,
    local_date,
    private,
    public,
    receipts,
)
from kaimen.uploads import UploadError, anonymous_limit_mb, read_uploads

from .. import deadlines, proof, queries, services
from ..blueprint import school_blueprint as bp
from ..forms import FeedbackForm, InformationForm, OpinionForm, ProofForm, submission_from
from ..models import Complaint
from . import render


def _setting(name: str, default: str) -> str:
    """Return a setting of the box: the app's config, else ``KAIMEN_<name>``, else the default
    (the README's settings table lists them)."""
    return current_app.config.get(name) or os.environ.get(f"KAIMEN_{name}") or default


def _client_limit() -> str:
    return _setting("COMPLAINTS_CLIENT_LIMIT", "6 per minute;40 per day")


def _school_limit() -> str:
    return _setting("COMPLAINTS_SCHOOL_LIMIT", "120 per hour")


def _school_key() -> str:
    return f"complaints-school:{g.school.slug}"


def _page(template: str, status: int = 200, **context: Any) -> Any:
    # The box's public pages carry a one-time token, a receipt code or a case: personal.
    private()
    return make_response(render(template, **context), status)


def _counted(_response: Any) -> bool:
    # Only what was filed (or caught in the trap) counts: a form sent back to correct does not.
    return bool(g.get("complaints_counted"))


def _form_again(limit: Any) -> Any:
    """Answer a breached limit with the form as it was filled, when to retry and whom to call."""
    bureau = g.school.bureau()
    retry_at = datetime.fromtimestamp(limit.reset_at, tz=UTC).replace(tzinfo=None)
    return _form_page(OpinionForm(), g.school, 429, limited=True,
                      retry_at=retry_at, hotline=g.school.hotline or bureau.hotline)


@bp.route("/", methods=["GET", "POST"])
@public
@cached_form
@limiter.limit(_client_limit, methods=["POST"], deduct_when=_counted, on_breach=_form_again)
@limiter.limit(_school_limit, key_func=_school_key, methods=["POST"], deduct_when=_counted,
               on_breach=_form_again)
def new() -> Any:
    """Show the box's form; file an opinion and show its receipt once."""
    school = g.school
    form = OpinionForm()
    if request.method == "GET":
        form.reference.data = request.args.get("ref", "")[:80]
        form.subject.data = request.args.get("title", "")[:120]
    token = form.submitted_token()
    if token and request.method == "POST":
        earlier = queries.replay(school, token)
        if earlier is not None:
            return _receipt(*earlier)
    if form.validate_on_submit():
        if form.website.data:
            g.complaints_counted = True
            return _form_page(form, school, 400, refused=True)
        try:
            uploads = read_uploads(request.files.getlist(form.attachments.name), anonymous=True)
        except UploadError as error:
            form.attachments.errors = [str(error.message)]
        else:
            return _file(school, form, uploads)
    return _form_page(form, school)


def _form_page(form: OpinionForm, school: Organisation, status: int = 200, **context: Any) -> Any:
    """Show the form with the time limits that will apply, as the parent sends it."""
    bureau = school.bureau()
    today = local_date(bureau)

    def page() -> str:
        limits = deadlines.settings_of(bureau)
        answer_by = deadlines.due_dates(bureau, today)[1]
        return render("complaints/new.html", form=form, school=school, limits=limits,
                      answer_by=answer_by, upload_total_mb=anonymous_limit_mb(), **context)

    private()  # it carries the visitor's one-time token
    if status == 200 and not context:  # the first visit: the same page for every parent
        return make_response(cached_form_page(page, form, today,
                                              until=end_of_local_day(bureau, today)), status)
    return make_response(page(), status)


def _file(school: Organisation, form: OpinionForm, uploads: list[services.Upload]) -> Any:
    token = form.token.data
    try:
        case, code = services.file_case(school, submission_from(form), uploads, token=token)
        # The receipt page is rendered from what was just written, before the commit, and
        # shown only once the commit succeeded: after it, the session would read the case,
        # its school and files again in a transaction of their own (six round trips).
        receipt = _receipt(case, code)
        db.session.commit()
        g.complaints_counted = True
    except IntegrityError:
        # The same form arrived twice at once: show the receipt of the one that won.
        db.session.rollback()
        earlier = queries.replay(school, token)
        if earlier is None:
            raise
        return _receipt(*earlier)
    return receipt


def _receipt(case: Complaint, code: str | None) -> Any:
    proof_form = ProofForm(formdata=None, code=code) if code else None
    return _page("complaints/receipt.html", case=case, code=code, school=case.school,
                 proof_form=proof_form)


@bp.post("/proof.pdf")
@public
@limiter.limit("30 per minute")
def proof_of_filing() -> Any:
    """Download the proof of filing as a PDF: the receipt code comes in the form body."""
    form = ProofForm()
    receipt = receipts.lookup(form.code.data or "") if form.validate_on_submit() else None
    if receipt is None or receipt.school_id != g.school.id:
        abort(404)
    case = queries.case_by_receipt(receipt)
    if case is None:
        abort(404)
    code = receipts.normalise(form.code.data or "") or ""
    size = receipts.GROUP_SIZE
    grouped = "-".join(code[i:i + size] for i in range(0, len(code), size))
    pdf = proof.proof_pdf(case, grouped, case.school.display_name(str(get_locale())),
                          url_for("core.track", _external=True))
    response = make_response(pdf)
    private()
    response.mimetype = "application/pdf"
    response.headers["Content-Disposition"] = (
        f'attachment; filename="proof-{case.school.slug}-{case.id}.pdf"')
    return response


def tracking_page(case: Complaint, code: str, info: InformationForm | None = None,
                  verdict: FeedbackForm | None = None, status: int = 200) -> Any:
    """Render the case's public timeline with the forms a complainant may use."""
    info = info or InformationForm(formdata=None, code=code)
    verdict = verdict or FeedbackForm(formdata=None, code=code)
    events = [e for e in case.events if e.public]
    return _page(
        "complaints/track.html", status, case=case, school=case.school, events=events,
        info_form=info, feedback_form=verdict,
        may_add=case.status != "closed",
        may_judge=case.status in ("answered", "closed", "not_accepted") and case.satisfied is None,
    )


@bp.post("/track")
@public
@limiter.limit("30 per minute")
def track_action() -> Any:
    """Add information to a case, or say whether the answer satisfies, by receipt code."""
    code = request.form.get("code", "")
    receipt = receipts.lookup(code)
    if receipt is None or receipt.school_id != g.school.id:
        abort(404)
    case = queries.case_by_receipt(receipt)
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
        return tracking_page(queries.case_by_receipt(receipt) or case, code, status=409)
    db.session.commit()
    if action == "information":
        flash(_("Thank you. What you sent was added to the case."), "info")
    elif case.satisfied:
        flash(_("Thank you for telling us that the answer satisfies you."), "info")
    else:
        flash(_("You said the answer does not satisfy you. The case is open again and the "
                "education bureau has been told."), "info")
    return tracking_page(case, code)


def track_receipt(receipt: receipts.Receipt) -> Any:
    """Answer ``/track`` for one of this plugin's receipts."""
    case = queries.case_by_receipt(receipt)
    if case is None:
        return None
    return tracking_page(case, request.form.get("code", ""))
