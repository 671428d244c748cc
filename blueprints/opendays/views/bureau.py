"""The bureau's pages: coming events in all its schools, and their calendar feed."""

from __future__ import annotations

import sqlalchemy as sa
from flask import Response, current_app, g, render_template, request

from kaimen import all_schools, db, public, require, schools_under, utcnow

from .. import feeds, metrics, services
from ..blueprint import bureau_blueprint
from ..forms import KIND_LABELS
from ..models import SCHEDULED, OpenDay
from .public import event_url


@bureau_blueprint.get("/")
@require("bureau.view")
def index() -> str:
    """List the coming events of every school below the bureau."""
    schools = schools_under(g.bureau)
    events = list(db.session.scalars(
        sa.select(OpenDay).where(OpenDay.status == SCHEDULED, OpenDay.ends_at > utcnow())
        .order_by(OpenDay.starts_at, OpenDay.id)
    )) if schools else []
    return render_template("opendays/bureau.html", bureau=g.bureau, events=events,
                           figures=metrics.event_figures([e.id for e in events]),
                           kinds=KIND_LABELS)


@bureau_blueprint.get("/calendar.ics")
@public
def feed() -> Response:
    """Serve one calendar feed over the public events of all the bureau's schools."""
    bureau = g.bureau
    ids = [s.id for s in schools_under(bureau)]
    # Public events of every school below the bureau: an explicit, read-only crossing.
    events: list[OpenDay] = list(db.session.scalars(all_schools(
        sa.select(OpenDay).where(OpenDay.school_id.in_(ids))
        .order_by(OpenDay.starts_at, OpenDay.id)
    ))) if ids else []
    body = feeds.feed(bureau.name, events, services.zone(bureau),
                      current_app.config.get("BASE_URL") or request.host_url, event_url)
    response = Response(body, mimetype="text/calendar")
    response.headers["Content-Disposition"] = f'inline; filename="{bureau.slug}.ics"'
    return response
