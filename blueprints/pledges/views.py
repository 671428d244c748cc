"""A school's pledge board: the public board and poster, and the staff pages behind them."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from flask import Blueprint, current_app, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from kaimen import public, require
from kaimen.extensions import db

from . import services
from .forms import PledgeForm, SchoolPledgeForm, SignForm, StatusForm, UpdateForm
from .models import ETHICS, WITHDRAWN, Pledge

school_blueprint = Blueprint(
    "pledges", __name__, template_folder="templates", static_folder="static"
)
POSTER_SIZES = ("a4", "a3")


def content_of(form: Any) -> dict[str, Any]:
    """Return the content fields of a submitted pledge form."""
    return {f: getattr(form, f).data for f in services.CONTENT_FIELDS}


def staff_page(pledge: Any, ep: str, **forms: Any) -> str:
    """Render a pledge's staff page: edit, change status, add progress."""
    form = forms.get("form") or PledgeForm(obj=pledge, formdata=None)
    return render_template(
        "pledges/edit.html", pledge=pledge, ep=ep, form=form,
        status_form=forms.get("status_form") or StatusForm(formdata=None),
        update_form=forms.get("update_form") or UpdateForm(formdata=None),
    )


def edit_pledge(pledge: Any, ep: str) -> Any:
    """Handle the edit form of a school or bureau pledge."""
    form = PledgeForm(obj=pledge)
    if form.validate_on_submit():
        try:
            changed = services.edit(pledge, current_user, **content_of(form))
        except services.PledgeError as error:
            db.session.rollback()
            flash(str(error), "error")
            return staff_page(pledge, ep, form=form)
        db.session.commit()
        flash(_("The pledge was changed; the earlier text stays in its history.") if changed
              else _("Nothing was changed."), "info")
        return redirect(url_for(f"{ep}.edit", pledge_id=pledge.id))
    return staff_page(pledge, ep, form=form)


def change_status(pledge: Any, ep: str) -> Any:
    """Handle the status form of a school or bureau pledge."""
    status_form = StatusForm()
    if status_form.validate_on_submit():
        try:
            services.set_status(pledge, status_form.status.data, status_form.reason.data,
                                current_user)
        except services.PledgeError as error:
            db.session.rollback()
            status_form.reason.errors = [str(error)]
        else:
            db.session.commit()
            flash(_("The status of the pledge was changed."), "info")
            return redirect(url_for(f"{ep}.edit", pledge_id=pledge.id))
    return staff_page(pledge, ep, status_form=status_form)


def post_update(pledge: Any, ep: str) -> Any:
    """Handle the progress form of a school or bureau pledge."""
    update_form = UpdateForm()
    if update_form.validate_on_submit():
        services.add_update(pledge, update_form.text.data, current_user)
        db.session.commit()
        flash(_("The progress update was published."), "info")
        return redirect(url_for(f"{ep}.edit", pledge_id=pledge.id))
    return staff_page(pledge, ep, update_form=update_form)


def _board_context(pledges: list[Pledge]) -> dict[str, Any]:
    school = g.school
    counts = services.report_counts(school, [p.reference for p in pledges])
    return {
        "school": school,
        "pledges": pledges,
        "report_links": services.report_links(school, pledges),
        "report_counts": counts,
        "current_year": services.current_school_year(),
    }


@school_blueprint.get("/")
@public
def board() -> str:
    """Show the school's public pledge board."""
    return render_template("pledges/board.html", **_board_context(services.school_pledges()))


@school_blueprint.get("/<int:pledge_id>")
@public
def show(pledge_id: int) -> str:
    """Show one pledge with its progress updates and signatures."""
    pledge = db.get_or_404(Pledge, pledge_id)
    sign_form = SignForm() if pledge.kind == ETHICS and pledge.is_active else None
    signed = any(s.user_id == getattr(current_user, "id", None) for s in pledge.signatures)
    return render_template("pledges/show.html", sign_form=sign_form, signed=signed,
                           pledge=pledge, **_board_context([pledge]))


@school_blueprint.get("/<int:pledge_id>/history")
@public
def history(pledge_id: int) -> str:
    """Show every version of a pledge's text, oldest first."""
    pledge = db.get_or_404(Pledge, pledge_id)
    return render_template("pledges/history.html", pledge=pledge, owner=g.school,
                           back=url_for(".show", pledge_id=pledge.id))


@school_blueprint.post("/<int:pledge_id>/sign")
@require("pledges.sign")
def sign(pledge_id: int) -> Any:
    """Sign a teacher ethics pledge as the logged-in teacher."""
    pledge = db.get_or_404(Pledge, pledge_id)
    form = SignForm()
    if form.validate_on_submit():
        try:
            services.sign(pledge, current_user)
        except services.PledgeError as error:
            db.session.rollback()
            flash(str(error), "error")
        else:
            db.session.commit()
            flash(_("You signed the pledge."), "info")
    return redirect(url_for(".show", pledge_id=pledge.id))


def _poster_url() -> str:
    path = url_for("core.school_home", school=g.school.slug)
    return services.public_url(current_app.config["BASE_URL"], path)


@school_blueprint.get("/poster")
@public
def poster() -> str:
    """Show the printable gate poster (``?size=a3`` for A3) with a QR code."""
    size = request.args.get("size", "a4").lower()
    if size not in POSTER_SIZES:
        size = "a4"
    school = g.school
    year = services.current_school_year()
    pledges = [p for p in services.school_pledges() if p.status != WITHDRAWN]
    this_year = [p for p in pledges if p.school_year == year]
    box_url = services.plugins.hook_for(school, "kaimen_report_link")(
        school=school, reference=f"pledge-board:{school.id}", title=_("Pledge board")
    )
    if box_url and not urlsplit(box_url).netloc:
        # Printed on paper: a path alone leads nowhere, so give the full public address.
        box_url = services.public_url(current_app.config["BASE_URL"], box_url)
    # Paper shows the address without its query: short enough to type from the gate.
    box_address = urlsplit(box_url)._replace(query="", fragment="").geturl() if box_url else None
    return render_template(
        "pledges/poster.html", school=school, size=size, pledges=this_year or pledges,
        year=year, box_url=box_url, box_address=box_address, page_url=_poster_url(),
        bureau=school.bureau(), sizes=POSTER_SIZES,
    )


@school_blueprint.get("/qr.png")
@public
def qr_code() -> Any:
    """Return the QR code of the school's public page as a PNG."""
    response = current_app.response_class(services.qr_png(_poster_url()), mimetype="image/png")
    response.headers["Cache-Control"] = "public, max-age=3600"
    return response


@school_blueprint.get("/manage")
@require("pledges.manage")
def manage() -> str:
    """List every pledge of the school for its administrators."""
    return render_template("pledges/manage.html", pledges=services.school_pledges(), ep="pledges",
                           owner=g.school)


@school_blueprint.route("/new", methods=["GET", "POST"])
@require("pledges.manage")
def new() -> Any:
    """Publish a new pledge of the school."""
    form = SchoolPledgeForm()
    if request.method == "GET":
        form.school_year.data = services.current_school_year()
    if form.validate_on_submit():
        try:
            pledge = services.publish_school_pledge(g.school, form.kind.data, current_user,
                                                    **content_of(form))
        except services.PledgeError as error:
            db.session.rollback()
            flash(str(error), "error")
        else:
            db.session.commit()
            flash(_("The pledge was published."), "info")
            return redirect(url_for(".show", pledge_id=pledge.id))
    return render_template("pledges/new.html", form=form, ep="pledges")


@school_blueprint.route("/<int:pledge_id>/edit", methods=["GET", "POST"])
@require("pledges.manage")
def edit(pledge_id: int) -> Any:
    """Change a pledge; the earlier text is kept and shown in its history."""
    pledge = db.get_or_404(Pledge, pledge_id)
    if request.method == "GET":
        return staff_page(pledge, "pledges")
    return edit_pledge(pledge, "pledges")


@school_blueprint.post("/<int:pledge_id>/status")
@require("pledges.manage")
def status(pledge_id: int) -> Any:
    """Mark a pledge fulfilled, or withdraw it with a public reason."""
    return change_status(db.get_or_404(Pledge, pledge_id), "pledges")


@school_blueprint.post("/<int:pledge_id>/updates")
@require("pledges.manage")
def updates(pledge_id: int) -> Any:
    """Publish a dated progress update on a pledge."""
    return post_update(db.get_or_404(Pledge, pledge_id), "pledges")
