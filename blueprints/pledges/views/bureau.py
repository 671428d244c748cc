"""The bureau's pledge pages: its own pledges, and which of its schools have a board."""

from __future__ import annotations

from typing import Any

from flask import abort, g, render_template, url_for
from flask_babel import gettext as _
from flask_login import current_user
from wtforms.fields.choices import SelectChoice

from kaimen import id_arg, paginate, public, require, schools_under

from .. import metrics, services
from ..blueprint import bureau_blueprint
from ..forms import BureauPledgeForm
from ..models import BureauPledge
from .staff import change_status, edit_page, pledge_url, post_update, publish_page

EP = "pledges_bureau"


def _load(bureau_pledge_id: int) -> BureauPledge:
    return services.bureau_pledge(g.bureau, bureau_pledge_id) or abort(404)


@bureau_blueprint.get("/")
@public
def board() -> str:
    """Show the public pledges of the bureau and its departments."""
    return render_template("pledges/bureau_board.html", bureau=g.bureau,
                           pledges=services.bureau_pledges(g.bureau))


@bureau_blueprint.get("/<int:bureau_pledge_id>")
@public
def show(bureau_pledge_id: int) -> str:
    """Show one bureau pledge with its progress updates."""
    return render_template("pledges/bureau_show.html", pledge=_load(bureau_pledge_id),
                           bureau=g.bureau)


@bureau_blueprint.get("/<int:bureau_pledge_id>/history")
@public
def history(bureau_pledge_id: int) -> str:
    """Show every version of a bureau pledge's text, oldest first."""
    pledge = _load(bureau_pledge_id)
    return render_template("pledges/history.html", pledge=pledge, owner=g.bureau,
                           back=url_for(".show", bureau_pledge_id=pledge.id))


@bureau_blueprint.get("/manage")
@require("pledges.bureau")
def manage() -> str:
    """List every pledge of the bureau for its administrators."""
    return render_template("pledges/manage.html", pledges=services.bureau_pledges(g.bureau),
                           ep=EP, owner=g.bureau, pledge_url=pledge_url)


@bureau_blueprint.route("/new", methods=["GET", "POST"])
@require("pledges.bureau")
def new() -> Any:
    """Publish a new pledge of the bureau or of one of its departments."""
    form = BureauPledgeForm()
    form.unit.choices = [SelectChoice("", _("The bureau itself"))] + [
        SelectChoice(str(unit.id), unit.name) for unit in services.units_of(g.bureau)
    ]

    def publish() -> BureauPledge:
        unit_id = int(form.unit.data) if (form.unit.data or "").isdigit() else None
        return services.publish_bureau_pledge(g.bureau, unit_id, current_user, **form.content())

    return publish_page(form, EP, publish)


@bureau_blueprint.route("/<int:bureau_pledge_id>/edit", methods=["GET", "POST"])
@require("pledges.bureau")
def edit(bureau_pledge_id: int) -> Any:
    """Change a bureau pledge; the earlier text is kept and shown in its history."""
    return edit_page(_load(bureau_pledge_id), EP)


@bureau_blueprint.post("/<int:bureau_pledge_id>/status")
@require("pledges.bureau")
def status(bureau_pledge_id: int) -> Any:
    """Mark a bureau pledge fulfilled, or withdraw it with a public reason."""
    return change_status(_load(bureau_pledge_id), EP)


@bureau_blueprint.post("/<int:bureau_pledge_id>/updates")
@require("pledges.bureau")
def updates(bureau_pledge_id: int) -> Any:
    """Publish a dated progress update on a bureau pledge."""
    return post_update(_load(bureau_pledge_id), EP)


@bureau_blueprint.get("/schools")
@require("bureau.view")
def schools() -> str:
    """List the bureau's schools, whether each has published a board this school year, and
    their published pledges; ``?school=`` narrows both to one of its schools."""
    year = services.current_school_year()
    schools = schools_under(g.bureau)
    school = next((s for s in schools if s.id == id_arg("school")), None)
    if school is not None:  # the umbrella view's link from one school's figure
        schools = [school]
    counts = {school_id: current
              for school_id, (_standing, current) in metrics.published(schools, year).items()}
    missing = [s for s in schools if not counts.get(s.id)]
    page = paginate(services.standing_among([s.id for s in schools]))
    return render_template("pledges/bureau_schools.html", bureau=g.bureau, schools=schools,
                           counts=counts, missing=missing, year=year, school=school, page=page)
