"""Bureau pages: the assignment grid, the coverage check, "my schools" and liaison visits."""

from __future__ import annotations

from datetime import date
from typing import Any

import sqlalchemy as sa
from flask import abort, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from kaimen import bureau_metrics, db, id_arg, paginate, require, schools_under, user_can
from kaimen.classes import SchoolYear, current_year, years_of

from .. import services
from ..blueprint import bureau_blueprint as bp
from ..forms import FOLLOW_UP_LINES, ActionForm, VisitForm
from ..models import PURPOSES, LiaisonVisit


def _year_or_404(school_year_id: int) -> SchoolYear:
    year = db.session.get(SchoolYear, school_year_id)
    if year is None or year.bureau_id != g.bureau.id:
        abort(404)
    return year


def _own_schools() -> list[Any]:
    return [s for s in schools_under(g.bureau) if s.parent_id == g.bureau.id]


def _pairs(prefix: str) -> set[tuple[int, int]]:
    """Read the grid's checkboxes named ``<prefix>-<school id>-<leader or unit id>``."""
    pairs = set()
    for name in request.form:
        head, _sep, rest = name.partition("-")
        school, _sep, other = rest.partition("-")
        if head == prefix and school.isdigit() and other.isdigit():
            pairs.add((int(school), int(other)))
    return pairs


@bp.get("/")
@require("liaison.view")
def overview() -> str:
    """Show the coverage check and, per leader and unit, the visits this term."""
    bureau = g.bureau
    year = current_year(bureau)
    schools = _own_schools()
    leaders, units = services.leaders_of(bureau), services.units_of(bureau)
    grid = services.load_grid(year, [s.id for s in schools]) if year else services.Grid()
    check = services.coverage(grid, [s.id for s in schools], leaders, units)
    visits = services.visits_this_term(bureau, grid, [s.id for s in schools])
    return render_template(
        "liaison/overview.html", bureau=bureau, year=year, term=visits.term, schools=schools,
        by_id={s.id: s for s in schools}, leaders=leaders, units=units, check=check,
        per_leader=visits.leaders, per_unit=visits.units, empty=services.VisitLoad(),
    )


@bp.get("/assignments")
@require("liaison.view")
def assignments() -> Any:
    """Open the assignment grid of the current school year (or the latest one)."""
    year = current_year(g.bureau) or next(iter(years_of(g.bureau)), None)
    if year is None:
        flash(_("Add a school year first: assignments are made per school year."), "error")
        return redirect(url_for(".overview"))
    return redirect(url_for(".year_assignments", school_year_id=year.id))


@bp.get("/years/<int:school_year_id>/assignments")
@require("liaison.view")
def year_assignments(school_year_id: int) -> str:
    """Show a school year's grid of schools against leaders and units, with the coverage check."""
    year = _year_or_404(school_year_id)
    schools = _own_schools()
    leaders, units = services.leaders_of(g.bureau), services.units_of(g.bureau)
    grid = services.load_grid(year, [s.id for s in schools])
    return render_template(
        "liaison/assignments.html", bureau=g.bureau, year=year, years=years_of(g.bureau),
        schools=schools, leaders=leaders, units=units, grid=grid,
        links=grid.links(), packages=grid.packages(),
        check=services.coverage(grid, [s.id for s in schools], leaders, units),
        can_edit=user_can(current_user, "liaison.assign", g.bureau),
        previous=services.previous_year(year), form=ActionForm(),
    )


@bp.post("/years/<int:school_year_id>/assignments/save")
@require("liaison.assign")
def save_assignments(school_year_id: int) -> Any:
    """Save the grid: every school's linked leaders and packaging units for the year."""
    year = _year_or_404(school_year_id)
    if not ActionForm().validate_on_submit():
        abort(400)
    try:
        changed = services.set_assignments(g.bureau, year, _pairs("link"), _pairs("package"))
    except services.NotInBureau:
        db.session.rollback()
        abort(404)
    db.session.commit()
    flash(_("Assignments saved: %(num)d changed.", num=changed), "info")
    return redirect(url_for(".year_assignments", school_year_id=year.id))


@bp.post("/years/<int:school_year_id>/copy")
@require("liaison.assign")
def copy_assignments(school_year_id: int) -> Any:
    """Copy the previous school year's assignments into this one."""
    year = _year_or_404(school_year_id)
    if not ActionForm().validate_on_submit():
        abort(400)
    try:
        added = services.copy_previous_year(g.bureau, year)
    except services.LiaisonError as error:
        db.session.rollback()
        flash(str(error), "error")
    else:
        db.session.commit()
        flash(_("%(num)d assignments copied from the previous school year.", num=added), "info")
    return redirect(url_for(".year_assignments", school_year_id=year.id))


@bp.get("/mine")
@require("liaison.visit")
def my_schools() -> str:
    """List the schools the user is linked to or packages, with what needs them."""
    bureau = g.bureau
    year = current_year(bureau)
    roles = services.schools_of_user(current_user, bureau, year)
    schools = [s for s in _own_schools() if s.id in roles]
    return render_template(
        "liaison/mine.html", bureau=bureau, year=year, schools=schools, roles=roles,
        tables=bureau_metrics(bureau, schools),
    )


@bp.route("/visits/new", methods=["GET", "POST"])
@require("liaison.visit")
def new_visit() -> Any:
    """Log a visit to one of the user's schools."""
    bureau = g.bureau
    roles = services.schools_of_user(current_user, bureau, current_year(bureau))
    schools = [s for s in _own_schools() if s.id in roles]
    if not schools:
        flash(_("You are not linked to any school this school year, so there is nothing to log."),
              "error")
        return redirect(url_for(".my_schools"))
    by_slug = {s.slug: s for s in schools}
    slug = request.values.get("school")
    chosen = by_slug.get(slug) if slug else schools[0]
    if chosen is None:
        abort(404)  # not a school this user answers for
    form = VisitForm()
    if form.validate_on_submit():
        follow_ups = [
            services.FollowUp(getattr(form, f"action{n}").data, getattr(form, f"due{n}").data)
            for n in range(1, FOLLOW_UP_LINES + 1)
            if (getattr(form, f"action{n}").data or "").strip()
        ]
        try:
            visit = services.record_visit(
                chosen, current_user, visited_on=form.visited_on.data,
                purposes=[p for p in PURPOSES if getattr(form, p).data], met=form.met.data or "",
                findings=form.findings.data or "", follow_ups=follow_ups)
        except services.LiaisonError as error:
            db.session.rollback()
            getattr(form, error.field or "met").errors = [str(error)]
        else:
            db.session.commit()
            flash(_("The visit was logged."), "info")
            return redirect(url_for(".visit", liaison_visit_id=visit.id))
    return render_template("liaison/visit_form.html", bureau=bureau, form=form,
                           schools=schools, chosen=chosen, follow_up_lines=FOLLOW_UP_LINES)


@bp.get("/visits/")
@require("liaison.view")
def visits() -> str:
    """List the liaison visits to the bureau's schools, latest first: of one school
    (``?school=<id>``) and between two dates (``?since=``, ``?until=``) when asked."""
    by_id = {s.id: s for s in _own_schools()}
    statement = sa.select(LiaisonVisit)
    school = by_id.get(id_arg("school") or 0)
    if school is not None:
        statement = statement.where(LiaisonVisit.school_id == school.id)
    since, until = _date_arg("since"), _date_arg("until")
    if since is not None:
        statement = statement.where(LiaisonVisit.visited_on >= since)
    if until is not None:
        statement = statement.where(LiaisonVisit.visited_on <= until)
    page = paginate(statement.order_by(LiaisonVisit.visited_on.desc(), LiaisonVisit.id.desc()))
    return render_template("liaison/visits.html", bureau=g.bureau, page=page, by_id=by_id,
                           school=school, since=since, until=until)


def _date_arg(name: str) -> date | None:
    try:
        return date.fromisoformat(request.args.get(name, ""))
    except ValueError:
        return None


@bp.get("/visits/<int:liaison_visit_id>")
@require("liaison.view")
def visit(liaison_visit_id: int) -> str:
    """Show one liaison visit."""
    entry = db.get_or_404(LiaisonVisit, liaison_visit_id)
    school = next((s for s in _own_schools() if s.id == entry.school_id), None)
    if school is None:
        abort(404)
    return render_template("liaison/visit.html", visit=entry, school=school,
                           labels=services.PURPOSE_LABELS)
