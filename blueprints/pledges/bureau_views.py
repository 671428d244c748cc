"""The bureau's own pledges (public) and its view of which schools have a board."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from flask import Blueprint, abort, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from wtforms.fields.choices import SelectChoice

from kaimen import orgs, public, require
from kaimen.extensions import db

from . import services
from .forms import BureauPledgeForm
from .models import WITHDRAWN, BureauPledge, Pledge
from .views import change_status, content_of, edit_pledge, post_update, staff_page

EP = "pledges_bureau"
bureau_blueprint = Blueprint(EP, __name__, template_folder="templates", static_folder="static")


def _bureau_pledges() -> list[BureauPledge]:
    return list(db.session.scalars(
        sa.select(BureauPledge).where(BureauPledge.bureau_id == g.bureau.id).order_by(
            BureauPledge.school_year.desc(), BureauPledge.unit_id.is_not(None), BureauPledge.id
        )
    ))


def _load(pledge_id: int) -> BureauPledge:
    pledge = db.session.scalar(sa.select(BureauPledge).where(
        BureauPledge.id == pledge_id, BureauPledge.bureau_id == g.bureau.id
    ))
    if pledge is None:
        abort(404)
    return pledge


def _units() -> list[orgs.Unit]:
    return list(db.session.scalars(
        sa.select(orgs.Unit).where(orgs.Unit.bureau_id == g.bureau.id).order_by(orgs.Unit.slug)
    ))


@bureau_blueprint.get("/")
@public
def board() -> str:
    """Show the public pledges of the bureau and its departments."""
    return render_template("pledges/bureau_board.html", bureau=g.bureau, pledges=_bureau_pledges())


@bureau_blueprint.get("/<int:pledge_id>")
@public
def show(pledge_id: int) -> str:
    """Show one bureau pledge with its progress updates."""
    return render_template("pledges/bureau_show.html", pledge=_load(pledge_id), bureau=g.bureau)


@bureau_blueprint.get("/<int:pledge_id>/history")
@public
def history(pledge_id: int) -> str:
    """Show every version of a bureau pledge's text, oldest first."""
    pledge = _load(pledge_id)
    return render_template("pledges/history.html", pledge=pledge, owner=g.bureau,
                           back=url_for(".show", pledge_id=pledge.id))


@bureau_blueprint.get("/manage")
@require("pledges.bureau")
def manage() -> str:
    """List every pledge of the bureau for its administrators."""
    return render_template("pledges/manage.html", pledges=_bureau_pledges(), ep=EP, owner=g.bureau)


@bureau_blueprint.route("/new", methods=["GET", "POST"])
@require("pledges.bureau")
def new() -> Any:
    """Publish a new pledge of the bureau or of one of its departments."""
    form = BureauPledgeForm()
    form.unit.choices = [SelectChoice("", _("The bureau itself"))] + [
        SelectChoice(str(u.id), u.name) for u in _units()
    ]
    if request.method == "GET":
        form.school_year.data = services.current_school_year()
    if form.validate_on_submit():
        unit_id = int(form.unit.data) if (form.unit.data or "").isdigit() else None
        try:
            pledge = services.publish_bureau_pledge(g.bureau, unit_id, current_user,
                                                    **content_of(form))
        except services.PledgeError as error:
            db.session.rollback()
            flash(str(error), "error")
        else:
            db.session.commit()
            flash(_("The pledge was published."), "info")
            return redirect(url_for(".show", pledge_id=pledge.id))
    return render_template("pledges/new.html", form=form, ep=EP)


@bureau_blueprint.route("/<int:pledge_id>/edit", methods=["GET", "POST"])
@require("pledges.bureau")
def edit(pledge_id: int) -> Any:
    """Change a bureau pledge; the earlier text is kept and shown in its history."""
    pledge = _load(pledge_id)
    if request.method == "GET":
        return staff_page(pledge, EP)
    return edit_pledge(pledge, EP)


@bureau_blueprint.post("/<int:pledge_id>/status")
@require("pledges.bureau")
def status(pledge_id: int) -> Any:
    """Mark a bureau pledge fulfilled, or withdraw it with a public reason."""
    return change_status(_load(pledge_id), EP)


@bureau_blueprint.post("/<int:pledge_id>/updates")
@require("pledges.bureau")
def updates(pledge_id: int) -> Any:
    """Publish a dated progress update on a bureau pledge."""
    return post_update(_load(pledge_id), EP)


@bureau_blueprint.get("/schools")
@require("bureau.view")
def schools() -> str:
    """List the bureau's schools and whether each has published a board this school year."""
    year = services.current_school_year()
    schools = orgs.schools_under(g.bureau)
    # The request is scoped to the bureau's schools, so this reads only theirs.
    counts = dict(db.session.execute(
        sa.select(Pledge.school_id, sa.func.count())
        .where(Pledge.school_year == year, Pledge.status != WITHDRAWN)
        .group_by(Pledge.school_id)
    ).all())
    missing = [s for s in schools if not counts.get(s.id)]
    return render_template("pledges/bureau_schools.html", bureau=g.bureau, schools=schools,
                           counts=counts, missing=missing, year=year)
