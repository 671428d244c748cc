"""Profiles, users and per-school features, for school and bureau admins."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from flask import Blueprint, abort, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from wtforms.fields.choices import SelectChoice

from .. import audit, orgs, plugins
from ..auth.access import require
from ..auth.forms import MIN_PASSWORD, NewUserForm
from ..auth.models import User
from ..auth.roles import ROLE_LABELS
from ..extensions import db
from . import services
from .forms import ConfirmForm, ProfileForm

bp = Blueprint("admin", __name__)
PROFILE_FIELDS = ("name", "name_en", "address", "phone", "hotline", "email")


def _edit_profile(org: orgs.Organisation, endpoint: str) -> Any:
    form = ProfileForm(obj=org)
    if form.validate_on_submit():
        changed = {
            f: getattr(form, f).data
            for f in PROFILE_FIELDS
            if (getattr(form, f).data or None) != getattr(org, f)
        }
        for field, value in changed.items():
            setattr(org, field, (value or "").strip() or None if field != "name" else value.strip())
        if changed:
            audit.record(
                "org.profile_changed",
                org,
                school=org if org.is_school else None,
                bureau=org.bureau(),
                data={"fields": sorted(changed)},
            )
        db.session.commit()
        flash(_("The profile was saved."), "info")
        return redirect(url_for(endpoint))
    return render_template("kaimen/admin/profile.html", org=org, form=form)


@bp.route("/s/<school>/admin/", methods=["GET", "POST"])
@require("school.manage")
def school_profile() -> Any:
    """Edit the school's public contact details."""
    return _edit_profile(g.school, ".school_profile")


@bp.route("/b/<bureau>/admin/", methods=["GET", "POST"])
@require("bureau.manage")
def bureau_profile() -> Any:
    """Edit the bureau's public contact details."""
    return _edit_profile(g.bureau, ".bureau_profile")


def _user_form(org: orgs.Organisation) -> NewUserForm:
    form = NewUserForm()
    pairs = services.grantable(current_user, org)
    form.role.choices = [
        SelectChoice(role, label)
        for role, label in sorted({(role, str(ROLE_LABELS[role])) for role, _org in pairs})
    ]
    targets = {target.id: target for _role, target in pairs}
    form.org.choices = [SelectChoice(str(t.id), t.name) for t in targets.values()]
    bureau = org.bureau()
    units = db.session.scalars(
        sa.select(orgs.Unit).where(orgs.Unit.bureau_id == bureau.id).order_by(orgs.Unit.slug)
    ).all()
    form.unit.choices = [SelectChoice("", "—")] + [SelectChoice(str(u.id), u.name) for u in units]
    return form


def _manage_users(org: orgs.Organisation, endpoint: str) -> Any:
    form = _user_form(org)
    if form.validate_on_submit():
        target = db.session.get(orgs.Organisation, int(form.org.data or 0))
        try:
            if target is None:
                raise services.UserError(_("You cannot give that role there."), field="org")
            services.create_user(current_user, org, services.NewUser(
                username=form.username.data or "",
                display_name=form.display_name.data or "",
                email=form.email.data,
                password=form.password.data or "",
                role=form.role.data or "",
                org=target,
                unit_id=int(form.unit.data) if (form.unit.data or "").isdigit() else None,
            ))
        except services.UserError as error:
            db.session.rollback()
            getattr(form, error.field).errors = [str(error)]
        else:
            db.session.commit()
            flash(_("The account %(username)s was created.", username=form.username.data), "info")
            return redirect(url_for(endpoint))
    users = services.users_of(org)
    toggleable = {u.id for u in users if services.can_toggle(current_user, org, u)}
    return render_template(
        "kaimen/admin/users.html",
        org=org,
        form=form,
        users=users,
        toggleable=toggleable,
        toggle_endpoint=endpoint.replace("users", "user_active"),
        min_password=MIN_PASSWORD,
    )


def _toggle_user(org: orgs.Organisation, user_id: int, endpoint: str) -> Any:
    user = db.session.get(User, user_id)
    if (
        user is None
        or user not in services.users_of(org)
        or not services.can_toggle(current_user, org, user)
    ):
        abort(404)
    services.set_active(current_user, org, user, request.form.get("active") == "1")
    db.session.commit()
    flash(_("The account was updated."), "info")
    return redirect(url_for(endpoint))


@bp.route("/s/<school>/admin/users", methods=["GET", "POST"])
@require("school.users")
def school_users() -> Any:
    """List the school's staff and create accounts for teachers."""
    return _manage_users(g.school, ".school_users")


@bp.post("/s/<school>/admin/users/<int:user_id>/active")
@require("school.users")
def school_user_active(user_id: int) -> Any:
    """Disable or re-enable a staff account of the school."""
    return _toggle_user(g.school, user_id, ".school_users")


@bp.route("/b/<bureau>/admin/users", methods=["GET", "POST"])
@require("bureau.users")
def bureau_users() -> Any:
    """List the users of the bureau and its schools and create accounts."""
    return _manage_users(g.bureau, ".bureau_users")


@bp.post("/b/<bureau>/admin/users/<int:user_id>/active")
@require("bureau.users")
def bureau_user_active(user_id: int) -> Any:
    """Disable or re-enable an account of the bureau or one of its schools."""
    return _toggle_user(g.bureau, user_id, ".bureau_users")


@bp.route("/b/<bureau>/admin/plugins", methods=["GET", "POST"])
@require("bureau.plugins")
def bureau_plugins() -> Any:
    """Switch features on and off for each school of the bureau."""
    bureau = g.bureau
    schools = orgs.schools_under(bureau)
    names = sorted(plugins.state().plugins)
    if request.method == "POST":
        for school in schools:
            for name in names:
                wanted = request.form.get(f"{school.id}:{name}") == "on"
                plugins.set_enabled(school, name, wanted, actor=current_user)
        db.session.commit()
        flash(_("The features were saved."), "info")
        return redirect(url_for(".bureau_plugins"))
    enabled = {(s.id, n) for s in schools for n in names if plugins.is_enabled(n, s)}
    modules = plugins.state().plugins
    return render_template(
        "kaimen/admin/plugins.html",
        bureau=bureau,
        schools=schools,
        names=names,
        modules=modules,
        enabled=enabled,
    )


@bp.get("/b/<bureau>/admin/units")
@require("bureau.units")
def bureau_units() -> Any:
    """List the bureau's departments and units, each with a way to delete it."""
    return render_template("kaimen/admin/units.html", bureau=g.bureau,
                           units=services.units_of(g.bureau), kinds=orgs.UNIT_KINDS)


def _unit_or_404(unit_id: int) -> orgs.Unit:
    unit = db.session.get(orgs.Unit, unit_id)
    if unit is None or unit.bureau_id != g.bureau.id:
        abort(404)
    return unit


@bp.route("/b/<bureau>/admin/units/<int:unit_id>/delete", methods=["GET", "POST"])
@require("bureau.units")
def delete_unit(unit_id: int) -> Any:
    """Confirm, then delete a unit; refused, with every reason, while something holds it."""
    unit = _unit_or_404(unit_id)
    form = ConfirmForm()
    if request.method == "POST" and not form.validate_on_submit():
        abort(400)
    reasons = services.unit_in_use(unit)
    if request.method == "POST" and not reasons:
        name = unit.name
        try:
            services.delete_unit(unit, actor=current_user)
            db.session.commit()
        except services.UnitInUse as refused:
            db.session.rollback()
            reasons = refused.reasons
        except sa.exc.IntegrityError:  # held by a row no plugin told of: refuse, never 500
            db.session.rollback()
            reasons = [_("Records still refer to this unit, so it cannot be deleted.")]
        else:
            flash(_("The unit %(name)s was deleted.", name=name), "info")
            return redirect(url_for(".bureau_units"))
    status = 409 if request.method == "POST" else 200
    return render_template("kaimen/admin/unit_delete.html", bureau=g.bureau, unit=unit,
                           form=form, reasons=reasons), status
