"""Staff entry of opinions received elsewhere: one at a time, or a pile of paper forms."""

from __future__ import annotations

from typing import Any

from flask import flash, g, redirect, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from kaimen import require
from kaimen.auth.access import user_can
from kaimen.extensions import db

from . import deadlines, services
from .forms import BatchForm, StaffEntryForm
from .uploads import UploadError, read_uploads
from .views import bp, no_store, render, submission_from


def _today() -> Any:
    return deadlines.local_date(g.school.bureau())


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
                return no_store(render("complaints/receipt.html", case=case, code=code,
                                       school=g.school, staff=True, may_open=may_open))
    return no_store(render("complaints/enter.html", form=form, school=g.school))


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
            for row in filled:
                services.file_case(g.school, services.Submission(
                    kind=row.kind.data, category=row.category.data, subject=row.subject.data,
                    description=row.text.data, channel=form.channel.data,
                    received_on=form.received_on.data), actor=current_user)
            db.session.commit()
            flash(_("%(count)d opinions were entered.", count=len(filled)), "info")
            return redirect(url_for(".batch"))
    return no_store(render("complaints/batch.html", form=form, school=g.school))
