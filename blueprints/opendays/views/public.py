"""What parents see: coming events, the month view, registration, the feed, follow-up."""

from __future__ import annotations

import re
from typing import Any

import sqlalchemy as sa
from flask import Response, abort, current_app, flash, g, render_template, request, url_for
from flask_babel import gettext as _
from sqlalchemy.exc import IntegrityError

from kaimen import cached_page, db, limiter, local_date, public, render_private, utcnow

from .. import calendar_view, feeds, services, times
from ..blueprint import school_blueprint
from ..forms import RegistrationForm, TrackActionForm
from ..models import CONFIRMED, DRAFT, WITHDRAWN, OpenDay, Registration


def _client_limit() -> str:
    return current_app.config.get("OPENDAYS_CLIENT_LIMIT", "6 per minute;40 per day")


def _school_limit() -> str:
    return current_app.config.get("OPENDAYS_SCHOOL_LIMIT", "600 per hour")


def _school_key() -> str:
    return f"opendays-school:{g.school.slug}"


def public_url(path: str) -> str:
    """Return ``path`` on the configured public address, never the request's host."""
    base = current_app.config.get("BASE_URL") or request.host_url
    return base.rstrip("/") + path


def event_url(event: OpenDay) -> str:
    """Return the public address of an event's page."""
    return public_url(url_for("opendays.show", school=event.school.slug, open_day_id=event.id))


@school_blueprint.get("/")
@public
@cached_page
def index() -> str:
    """List the school's coming events and show the month's calendar."""
    school = g.school
    first = calendar_view.parse_month(request.args.get("month"), local_date(school))
    feed_url = public_url(url_for("opendays.feed"))
    return render_template("opendays/index.html", school=school, events=services.coming(),
                           month=calendar_view.month_of(school, first),
                           today=local_date(school), feed=feed_url,
                           webcal=re.sub(r"^https?://", "webcal://", feed_url))


@school_blueprint.route("/<int:open_day_id>", methods=["GET", "POST"])
@public
@limiter.limit(_client_limit, methods=["POST"])
@limiter.limit(_school_limit, key_func=_school_key, methods=["POST"])
def show(open_day_id: int) -> Any:
    """Show an event; register a parent for it and show the registration code once."""
    event = db.get_or_404(OpenDay, open_day_id)
    if event.is_draft:
        abort(404)  # the bureau pushed it; the school has not filled it in yet
    school = g.school
    form = RegistrationForm()
    token = form.submitted_token()
    if token and request.method == "POST":
        earlier = services.replay(school, token)
        if earlier is not None:
            return _receipt(*earlier)
    status = 200
    if form.validate_on_submit():
        if form.website.data:
            abort(400)
        try:
            registration, code = services.register(event, services.Applicant(
                name=form.name.data, phone=form.phone.data, email=form.email.data or None,
                child_class=form.child_class.data, attendees=form.attendees.data,
            ), token=token)
            db.session.commit()
        except services.OpenDayError as error:
            db.session.rollback()
            flash(str(error.message), "error")
            status = 409
        except IntegrityError:
            # The same form arrived twice at once: show the receipt of the one that won.
            db.session.rollback()
            earlier = services.replay(school, token) if token else None
            if earlier is None:
                raise
            return _receipt(*earlier)
        else:
            return _receipt(registration, code)
    elif request.method == "POST":
        status = 400
    return render_private("opendays/show.html", status, school=school, event=event, form=form,
                          seats_left=services.seats_left(event),
                          closed=services.registration_problem(event))


def _receipt(registration: Registration, code: str | None) -> Any:
    return render_private("opendays/receipt.html", registration=registration, code=code,
                          event=registration.open_day, school=registration.open_day.school)


@school_blueprint.get("/calendar.ics")
@public
def feed() -> Response:
    """Serve the school's calendar feed: coming and recent events, cancelled ones marked."""
    school = g.school
    events = db.session.scalars(sa.select(OpenDay).where(OpenDay.status != DRAFT)
                                .order_by(OpenDay.starts_at, OpenDay.id))
    body = feeds.feed(school.name, events, times.zone(school),
                      current_app.config.get("BASE_URL") or request.host_url, event_url)
    response = Response(body, mimetype="text/calendar")
    response.headers["Content-Disposition"] = f'inline; filename="{school.slug}.ics"'
    return response


def tracking_page(registration: Registration, code: str, form: Any = None,
                  status: int = 200) -> Any:
    """Render a parent's registration with what they may still do with it."""
    event = registration.open_day
    now = utcnow()
    may_cancel = registration.status != WITHDRAWN and event.ends_at > now
    may_judge = (event.feedback_enabled and registration.feedback is None
                 and registration.status == CONFIRMED and not event.is_cancelled
                 and event.ends_at <= now)
    return render_private(
        "opendays/track.html", status, registration=registration, event=event,
        school=event.school, code=code,
        form=form or TrackActionForm(formdata=None, code=code),
        may_cancel=may_cancel, may_judge=may_judge,
    )


@school_blueprint.post("/track")
@public
@limiter.limit("30 per minute")
def track_action() -> Any:
    """Cancel a registration, or say how the event was, with the registration code."""
    form = TrackActionForm()
    code = form.code.data or ""
    registration = services.by_code(g.school, code)
    if registration is None:
        abort(404)
    try:
        if form.action.data == "cancel":
            services.withdraw(registration)
            message = _("Your registration is cancelled. Thank you for letting the school know.")
        elif form.action.data == "feedback" and form.validate():
            services.leave_feedback(registration, int(form.satisfaction.data or 0),
                                    form.comment.data or "")
            message = _("Thank you for your feedback.")
        else:
            return tracking_page(registration, code, form, status=400)
    except services.OpenDayError as error:
        db.session.rollback()
        flash(str(error.message), "error")
        return tracking_page(registration, code, form, status=409)
    db.session.commit()
    flash(message, "info")
    return tracking_page(registration, code)


def track_receipt(receipt: Any) -> Any:
    """Answer ``/track`` for one of this plugin's registration codes."""
    registration = db.session.get(Registration, receipt.object_id)
    if registration is None:
        return None
    return tracking_page(registration, request.form.get("code", ""))
