"""Public pages: the directory, a school's page, the umbrella view, tracking, health."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    g,
    jsonify,
    make_response,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import StringField
from wtforms.validators import DataRequired, Length

from .. import orgs, plugins, tenancy
from ..auth.access import public, require
from ..export import table_response
from ..extensions import db, limiter
from ..i18n import LOCALE_COOKIE, LOCALES
from ..pagecache import cached_page
from ..receipts import lookup
from ..safety import safe_next
from . import umbrella

bp = Blueprint("core", __name__)


class TrackForm(FlaskForm):
    code = StringField(
        _l("Receipt code"),
        validators=[DataRequired(message=_l("Enter the receipt code.")), Length(max=40)],
    )


@bp.get("/")
@public
def directory() -> str:
    """List the bureaus and their schools."""
    bureaus = db.session.scalars(
        sa.select(orgs.Organisation)
        .where(orgs.Organisation.kind == orgs.BUREAU)
        .order_by(orgs.Organisation.parent_id.is_not(None), orgs.Organisation.slug)
    ).all()
    return render_template("kaimen/directory.html", bureaus=bureaus)


@bp.get("/s/<school>/")
@public
@cached_page
def school_home() -> str:
    """Show a school's public page, built from the plugins' panels."""
    school = g.school
    panels = [
        p
        for group in plugins.hook_for(school, "kaimen_school_panels")(school=school)
        for p in (group or [])
    ]
    return render_template(
        "kaimen/school.html", school=school, panels=sorted(panels, key=lambda p: p.order)
    )


@bp.get("/s/<school>/desk/")
@require("school.desk")
def school_desk() -> str:
    """Show a member of staff what waits for them at the school."""
    school = g.school
    panels = [
        p
        for group in plugins.hook_for(school, "kaimen_staff_panels")(
            school=school, user=current_user
        )
        for p in (group or [])
    ]
    return render_template(
        "kaimen/desk.html", school=school, panels=sorted(panels, key=lambda p: p.order)
    )


@bp.get("/b/<bureau>/")
@require("bureau.view")
def bureau_home() -> str:
    """Show the umbrella view: every school's figures side by side, filtered and sorted."""
    bureau = g.bureau
    view = umbrella.build(bureau, current_user, request.args)
    args = {key: value for key, value in request.args.items() if key != "format"}
    return render_template("kaimen/bureau.html", bureau=bureau, view=view, args=args,
                           headings=umbrella.headings(view, bureau, args),
                           rows=umbrella.table_rows(view), charts=view.charts,
                           counties=view.counties(bureau, str(get_locale())))


@bp.get("/b/<bureau>/export")
@require("bureau.view")
def bureau_export() -> Any:
    """Download the umbrella table as shown: ``?format=xlsx`` or ``csv``, same filters."""
    fmt = request.args.get("format", "xlsx")
    if fmt not in ("xlsx", "csv"):
        abort(404)
    view = umbrella.build(g.bureau, current_user, request.args)
    headers, rows = umbrella.export_rows(view)
    return table_response(f"{g.bureau.slug}-overview", headers, rows, fmt)


@bp.route("/track", methods=["GET", "POST"])
@public
@limiter.limit("30 per minute", methods=["POST"])
def track() -> Any:
    """Take a receipt code and hand it to the plugin that issued it."""
    form = TrackForm()
    if form.validate_on_submit():
        receipt = lookup(form.code.data or "")
        if receipt is not None:
            # The receipt names its school: the rest of the request may see that one
            # school (a plugin's tracking page walks the case's relations there).
            tenancy.set_scope({receipt.school_id})
            school = db.session.get(orgs.Organisation, receipt.school_id)
            answer = (plugins.implementation(receipt.plugin, school, "kaimen_track_receipt")
                      if school is not None else None)
            response = answer(receipt=receipt) if answer is not None else None
            if response is not None:
                return response
        form.code.errors = [_("No submission matches this receipt code. Check it and try again.")]
    return render_template("kaimen/track.html", form=form)


HEALTHY = b'{"database":"ok","status":"ok"}\n'  # what jsonify made of it, every time


@bp.get("/healthz")
@public
@limiter.exempt
def healthz() -> Any:
    """Report liveness and whether the database answers.

    It asks a pooled DBAPI connection directly: the ORM session's transaction, scope and
    listeners would cost more than the answer.
    """
    engine = db.engine
    try:
        connection = engine.raw_connection()
        try:
            cursor = connection.cursor()
            cursor.execute("SELECT 1")
            cursor.close()
        finally:
            connection.close()  # back to the pool, rolled back
    except (sa.exc.SQLAlchemyError, engine.dialect.loaded_dbapi.Error) as exc:
        current_app.logger.error("health check failed: %s", exc)
        return jsonify(status="error", database="unavailable"), 503
    return current_app.response_class(HEALTHY, mimetype="application/json")


@bp.get("/lang/<locale>")
@public
def set_language(locale: str) -> Any:
    """Remember the visitor's choice of language in a cookie."""
    if locale not in LOCALES:
        flash(_("That language is not available."), "error")
        locale = ""
    response = make_response(redirect(safe_next(request.args.get("next")) or url_for(".directory")))
    if locale:
        response.set_cookie(
            LOCALE_COOKIE,
            locale,
            max_age=365 * 24 * 3600,
            samesite="Lax",
            secure=current_app.config["SESSION_COOKIE_SECURE"],
            httponly=True,
        )
    return response
