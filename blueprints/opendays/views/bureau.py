"""The bureau's pages: coming events in its schools, county-wide pushes, the calendar feed."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from flask import Response, current_app, flash, g, redirect, render_template, request, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_login import current_user
from wtforms.fields.choices import SelectChoice

from kaimen import (
    all_schools,
    db,
    id_arg,
    paginate,
    public,
    require,
    schools_under,
    utcnow,
)

from .. import feeds, metrics, services, times
from ..blueprint import bureau_blueprint
from ..forms import KIND_LABELS, PushForm
from ..models import DRAFT, SCHEDULED, BureauEvent, OpenDay
from .public import event_url


def _pushed(bureau: Any) -> list[tuple[BureauEvent, int, int]]:
    """Return the bureau's pushed events with how many schools got and filled in each."""
    pushed = list(db.session.scalars(
        sa.select(BureauEvent).where(BureauEvent.bureau_id == bureau.id)
        .order_by(BureauEvent.starts_at.desc())
    ))
    counts = {key: (int(sent), int(filled or 0)) for key, sent, filled in db.session.execute(
        sa.select(OpenDay.bureau_event_id, sa.func.count(),
                  sa.func.sum(sa.case((OpenDay.status != DRAFT, 1), else_=0)))
        .where(OpenDay.bureau_event_id.in_([p.id for p in pushed]))
        .group_by(OpenDay.bureau_event_id)
    )} if pushed else {}
    return [(p, *counts.get(p.id, (0, 0))) for p in pushed]


@bureau_blueprint.get("/")
@require("bureau.view")
def index() -> str:
    """List the coming events of every school below the bureau, and its pushed events;
    ``?held=1`` lists the events held this period instead (the umbrella view's figure),
    ``?school=`` those of one of its schools."""
    schools = schools_under(g.bureau)
    school = next((s for s in schools if s.id == id_arg("school")), None)
    ids = [school.id] if school is not None else [s.id for s in schools]
    period = None
    if request.args.get("held") == "1":
        period, since = metrics.period_start(g.bureau)
        where = metrics.held_in(ids, since, utcnow())
    else:
        where = sa.and_(OpenDay.school_id.in_(ids), OpenDay.status == SCHEDULED,
                        OpenDay.ends_at > utcnow())
    page = paginate(sa.select(OpenDay).where(where).order_by(OpenDay.starts_at, OpenDay.id))
    return render_template("opendays/bureau.html", bureau=g.bureau, events=page.items,
                           page=page, period=period, school=school,
                           figures=metrics.event_figures([e.id for e in page.items]),
                           kinds=KIND_LABELS, pushed=_pushed(g.bureau))


@bureau_blueprint.route("/push", methods=["GET", "POST"])
@require("opendays.push")
def push() -> Any:
    """Push a county-wide event (an open week) to all or some of the bureau's schools."""
    bureau, schools = g.bureau, schools_under(g.bureau)
    form = PushForm()
    form.schools.choices = [SelectChoice(str(s.id), s.display_name(str(get_locale())))
                            for s in schools]
    if request.method == "GET":
        form.schools.data = [str(s.id) for s in schools]
    if form.validate_on_submit():
        chosen = {str(value) for value in form.schools.data or []}
        try:
            if chosen - {str(s.id) for s in schools}:
                raise services.OpenDayError(_("Choose schools of this bureau only."))
            services.push_event(bureau, {
                "kind": form.kind.data, "title": form.title.data,
                "description": form.description.data,
                "starts_at": times.to_utc(form.starts_at.data, bureau),
                "ends_at": times.to_utc(form.ends_at.data, bureau),
            }, [s for s in schools if str(s.id) in chosen], schools, current_user)
        except services.OpenDayError as error:
            db.session.rollback()
            flash(str(error.message), "error")
        else:
            db.session.commit()
            flash(_("The event was sent to %(num)d schools; each fills in its own details.",
                    num=len(chosen)), "info")
            return redirect(url_for(".index"))
    status = 400 if request.method == "POST" else 200
    return render_template("opendays/push.html", bureau=bureau, form=form), status


@bureau_blueprint.get("/calendar.ics")
@public
def feed() -> Response:
    """Serve one calendar feed over the public events of all the bureau's schools."""
    bureau = g.bureau
    ids = [s.id for s in schools_under(bureau)]
    # Public events of every school below the bureau: an explicit, read-only crossing.
    events: list[OpenDay] = list(db.session.scalars(all_schools(
        sa.select(OpenDay).where(OpenDay.school_id.in_(ids), OpenDay.status != DRAFT)
        .order_by(OpenDay.starts_at, OpenDay.id)
    ))) if ids else []
    body = feeds.feed(bureau.name, events, times.zone(bureau),
                      current_app.config.get("BASE_URL") or request.host_url, event_url)
    response = Response(body, mimetype="text/calendar")
    response.headers["Content-Disposition"] = f'inline; filename="{bureau.slug}.ics"'
    return response
