"""The school's staff pages: schedule, change and cancel events; registrations, check-in."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from flask import abort, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from kaimen import db, require, table_response

from .. import metrics, services, times
from ..blueprint import school_blueprint
from ..forms import (
    KIND_LABELS,
    STATUS_LABELS,
    CancelEventForm,
    CodeForm,
    OpenDayForm,
)
from ..models import OpenDay, Registration


def values_of(form: OpenDayForm, school: Any) -> dict[str, Any]:
    """Return the event's values from its form, times turned into UTC."""
    return {
        "kind": form.kind.data, "title": form.title.data, "description": form.description.data,
        "place": form.place.data, "grades": ",".join(form.grades.data or []),
        "starts_at": times.to_utc(form.starts_at.data, school),
        "ends_at": times.to_utc(form.ends_at.data, school),
        "capacity": form.capacity.data, "max_attendees": form.max_attendees.data,
        "registration_opens_at": times.to_utc(form.registration_opens_at.data, school),
        "registration_closes_at": times.to_utc(form.registration_closes_at.data, school),
        "feedback_enabled": bool(form.feedback_enabled.data),
    }


def form_for(event: OpenDay) -> OpenDayForm:
    """Return the edit form of ``event`` filled with its values in local time."""
    school = event.school
    form = OpenDayForm(obj=event)
    form.grades.choices = services.audience_choices(school, keep=event.grade_list)
    if request.method == "GET":
        form.grades.data = event.grade_list
        for name in ("starts_at", "ends_at", "registration_opens_at", "registration_closes_at"):
            local = times.to_local(getattr(event, name), school)
            getattr(form, name).data = local.replace(tzinfo=None) if local else None
    return form


@school_blueprint.get("/manage")
@require("opendays.manage")
def manage() -> str:
    """List every event of the school, past and cancelled ones included."""
    events = list(db.session.scalars(sa.select(OpenDay).order_by(OpenDay.starts_at.desc())))
    return render_template("opendays/manage.html", school=g.school, events=events,
                           figures=metrics.event_figures([e.id for e in events]),
                           kinds=KIND_LABELS)


@school_blueprint.route("/new", methods=["GET", "POST"])
@require("opendays.manage")
def new() -> Any:
    """Schedule an event."""
    form = OpenDayForm()
    form.grades.choices = services.audience_choices(g.school)
    if form.validate_on_submit():
        try:
            event = services.create_event(g.school, values_of(form, g.school), current_user)
        except services.OpenDayError as error:
            db.session.rollback()
            flash(str(error.message), "error")
        else:
            db.session.commit()
            flash(_("The event was published."), "info")
            return redirect(url_for(".show", open_day_id=event.id))
    return render_template("opendays/edit.html", form=form, event=None), (
        400 if request.method == "POST" else 200)


@school_blueprint.route("/<int:open_day_id>/edit", methods=["GET", "POST"])
@require("opendays.manage")
def edit(open_day_id: int) -> Any:
    """Change an event; a new time or place is sent to everyone registered."""
    event = db.get_or_404(OpenDay, open_day_id)
    form = form_for(event)
    if form.validate_on_submit():
        try:
            changed = services.update_event(event, values_of(form, g.school), current_user)
        except services.OpenDayError as error:
            db.session.rollback()
            flash(str(error.message), "error")
        else:
            db.session.commit()
            if "status" in changed:
                flash(_("The event was published."), "info")
            else:
                flash(_("The event was changed.") if changed else _("Nothing was changed."),
                      "info")
            return redirect(url_for(".edit", open_day_id=event.id))
    return render_template("opendays/edit.html", form=form, event=event,
                           cancel_form=CancelEventForm(formdata=None)), (
        400 if request.method == "POST" else 200)


@school_blueprint.post("/<int:open_day_id>/cancel")
@require("opendays.manage")
def cancel(open_day_id: int) -> Any:
    """Cancel an event and tell everyone registered."""
    event = db.get_or_404(OpenDay, open_day_id)
    form = CancelEventForm()
    if form.validate_on_submit():
        try:
            services.cancel_event(event, form.reason.data, current_user)
        except services.OpenDayError as error:
            db.session.rollback()
            flash(str(error.message), "error")
        else:
            db.session.commit()
            flash(_("The event was cancelled; everyone registered will be told."), "info")
            return redirect(url_for(".edit", open_day_id=event.id))
    else:
        flash(_("Say why the event is cancelled."), "error")
    return redirect(url_for(".edit", open_day_id=event.id))


def _registrations(event: OpenDay) -> list[Registration]:
    return list(db.session.scalars(
        sa.select(Registration).where(Registration.open_day_id == event.id)
        .order_by(Registration.id)
    ))


@school_blueprint.get("/<int:open_day_id>/registrations")
@require("opendays.check_in")
def registrations(open_day_id: int) -> Any:
    """List an event's registrations with check-in buttons and attendance figures."""
    event = db.get_or_404(OpenDay, open_day_id)
    fmt = request.args.get("format")
    rows = _registrations(event)
    if fmt in ("csv", "xlsx"):
        return table_response(
            f"{event.title}-{event.id}",
            [_("Number"), _("Name"), _("Telephone"), _("E-mail"), _("Class"), _("Attendees"),
             _("Status"), _("Registered at (UTC)"), _("Checked in at (UTC)")],
            [[r.id, r.name, r.phone, r.email, r.child_class, r.attendees,
              str(STATUS_LABELS[r.status]), r.created_at, r.checked_in_at] for r in rows],
            fmt,
        )
    if fmt is not None:
        abort(404)
    return render_template("opendays/registrations.html", event=event, registrations=rows,
                           figures=metrics.event_figures([event.id]).get(event.id),
                           code_form=CodeForm(formdata=None), status_labels=STATUS_LABELS)


@school_blueprint.post("/registrations/<int:registration_id>/check-in")
@require("opendays.check_in")
def check_in(registration_id: int) -> Any:
    """Check a registration in from the list."""
    registration = db.get_or_404(Registration, registration_id)
    try:
        services.check_in(registration, current_user)
    except services.OpenDayError as error:
        db.session.rollback()
        flash(str(error.message), "error")
    else:
        db.session.commit()
        flash(_("%(name)s checked in (%(num)d people).", name=registration.name,
                num=registration.attendees), "info")
    return redirect(url_for(".registrations", open_day_id=registration.open_day_id))


@school_blueprint.route("/<int:open_day_id>/check-in", methods=["GET", "POST"])
@require("opendays.check_in")
def check_in_by_code(open_day_id: int) -> Any:
    """Check a parent in at the door with the registration code they show."""
    event = db.get_or_404(OpenDay, open_day_id)
    form = CodeForm()
    status = 200
    if form.validate_on_submit():
        registration = services.by_code(g.school, form.code.data)
        if registration is None or registration.open_day_id != event.id:
            form.code.errors = [_("No registration for this event has this code.")]
            status = 404
        else:
            try:
                services.check_in(registration, current_user)
            except services.OpenDayError as error:
                db.session.rollback()
                form.code.errors = [str(error.message)]
                status = 409
            else:
                db.session.commit()
                flash(_("%(name)s checked in (%(num)d people).", name=registration.name,
                        num=registration.attendees), "info")
                return redirect(url_for(".check_in_by_code", open_day_id=event.id))
    elif request.method == "POST":
        status = 400
    return render_template("opendays/check_in.html", event=event, form=form,
                           figures=metrics.event_figures([event.id]).get(event.id)), status
