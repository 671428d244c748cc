"""The staff pages of a school's pledges: its managers publish and keep them, teachers sign.

The handlers below the routes serve the bureau's pages too (``views.bureau``): a
pledge is edited, closed and updated the same way wherever it hangs.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from flask import flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from wtforms import Field

from kaimen import db, require

from .. import services
from ..blueprint import school_blueprint
from ..forms import PledgeForm, SchoolPledgeForm, SignForm, StatusForm, UpdateForm
from ..models import BureauPledge, Pledge

T = TypeVar("T")
EP = "pledges"


def pledge_url(action: str, pledge: services.AnyPledge) -> str:
    """Return the address of one of ``pledge``'s pages (``show``, ``edit``, ...): a school's
    pledge is ``pledge_id`` under its school, a bureau's is ``bureau_pledge_id``."""
    if isinstance(pledge, BureauPledge):
        return url_for(f"pledges_bureau.{action}", bureau_pledge_id=pledge.id)
    return url_for(f"pledges.{action}", pledge_id=pledge.id)


@school_blueprint.get("/manage")
@require("pledges.manage")
def manage() -> str:
    """List every pledge of the school for its administrators."""
    return render_template("pledges/manage.html", pledges=services.school_pledges(), ep=EP,
                           owner=g.school, pledge_url=pledge_url)


@school_blueprint.route("/new", methods=["GET", "POST"])
@require("pledges.manage")
def new() -> Any:
    """Publish a new pledge of the school."""
    form = SchoolPledgeForm()
    return publish_page(form, EP, lambda: services.publish_school_pledge(
        g.school, form.kind.data, current_user, **form.content()
    ))


@school_blueprint.route("/<int:pledge_id>/edit", methods=["GET", "POST"])
@require("pledges.manage")
def edit(pledge_id: int) -> Any:
    """Change a pledge; the earlier text is kept and shown in its history."""
    return edit_page(db.get_or_404(Pledge, pledge_id), EP)


@school_blueprint.post("/<int:pledge_id>/status")
@require("pledges.manage")
def status(pledge_id: int) -> Any:
    """Mark a pledge fulfilled, or withdraw it with a public reason."""
    return change_status(db.get_or_404(Pledge, pledge_id), EP)


@school_blueprint.post("/<int:pledge_id>/updates")
@require("pledges.manage")
def updates(pledge_id: int) -> Any:
    """Publish a dated progress update on a pledge."""
    return post_update(db.get_or_404(Pledge, pledge_id), EP)


@school_blueprint.post("/<int:pledge_id>/sign")
@require("pledges.sign")
def sign(pledge_id: int) -> Any:
    """Sign a teacher ethics pledge as the logged-in teacher."""
    pledge = db.get_or_404(Pledge, pledge_id)
    if SignForm().validate_on_submit() and attempt(lambda: services.sign(pledge, current_user)):
        flash(_("You signed the pledge."), "info")
    return redirect(url_for(".show", pledge_id=pledge.id))


# --- the handlers a school's and the bureau's pages share -------------------------------------


def attempt(action: Callable[[], T], field: Field | None = None) -> T | None:
    """Run one service call as the request's transaction; return its result, None if refused.

    A refusal rolls everything back and is shown under ``field``, or flashed.
    """
    try:
        result = action()
    except services.PledgeError as error:
        db.session.rollback()
        if field is None:
            flash(str(error), "error")
        else:
            field.errors = [str(error)]
        return None
    db.session.commit()
    return result


def publish_page(form: PledgeForm, ep: str, publish: Callable[[], services.AnyPledge]) -> Any:
    """Show the form for a new pledge, or publish the submitted one and show it."""
    if request.method == "GET":
        form.school_year.data = services.current_school_year()
    if form.validate_on_submit() and (pledge := attempt(publish)) is not None:
        flash(_("The pledge was published."), "info")
        return redirect(pledge_url("show", pledge))
    return render_template("pledges/new.html", form=form, ep=ep)


def staff_page(pledge: services.AnyPledge, ep: str, **forms: Any) -> str:
    """Render a pledge's staff page: edit, change status, add progress."""
    return render_template(
        "pledges/edit.html", pledge=pledge, ep=ep, pledge_url=pledge_url,
        form=forms.get("form") or PledgeForm(obj=pledge, formdata=None),
        status_form=forms.get("status_form") or StatusForm(formdata=None),
        update_form=forms.get("update_form") or UpdateForm(formdata=None),
    )


def edit_page(pledge: services.AnyPledge, ep: str) -> Any:
    """Show a pledge's staff page, or save its submitted content as a new version."""
    if request.method == "GET":
        return staff_page(pledge, ep)
    form = PledgeForm(obj=pledge)
    if form.validate_on_submit():
        changed = attempt(lambda: services.edit(pledge, current_user, **form.content()))
        if changed is not None:
            flash(_("The pledge was changed; the earlier text stays in its history.") if changed
                  else _("Nothing was changed."), "info")
            return redirect(pledge_url("edit", pledge))
    return staff_page(pledge, ep, form=form)


def change_status(pledge: services.AnyPledge, ep: str) -> Any:
    """Mark a pledge fulfilled or withdrawn from its status form."""
    form = StatusForm()
    if form.validate_on_submit() and attempt(
        lambda: services.set_status(pledge, form.status.data, form.reason.data, current_user),
        field=form.reason,
    ):
        flash(_("The status of the pledge was changed."), "info")
        return redirect(pledge_url("edit", pledge))
    return staff_page(pledge, ep, status_form=form)


def post_update(pledge: services.AnyPledge, ep: str) -> Any:
    """Publish a progress note from a pledge's progress form."""
    form = UpdateForm()
    if form.validate_on_submit() and attempt(
        lambda: services.add_update(pledge, form.text.data, current_user)
    ):
        flash(_("The progress update was published."), "info")
        return redirect(pledge_url("edit", pledge))
    return staff_page(pledge, ep, update_form=form)
