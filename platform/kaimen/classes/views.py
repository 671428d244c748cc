"""Pages for school years and terms (bureau admins) and classes (school admins)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, flash, g, redirect, render_template, request, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from werkzeug.wrappers import Response

from .. import orgs
from ..auth.access import require
from ..export import FORMATS, table_response
from ..extensions import db
from . import importer, services
from .forms import DeleteForm, ImportForm, SchoolClassForm, SchoolYearForm
from .models import GRADES, SchoolClass, SchoolYear, grade_label

bp = Blueprint("classes", __name__)


# -- the bureau's school years ----------------------------------------------------------


def _year_values(form: SchoolYearForm) -> dict[str, Any]:
    terms = []
    for number in (1, 2):
        starts = getattr(form, f"term{number}_starts_on")
        ends = getattr(form, f"term{number}_ends_on")
        if starts.data is None and ends.data is None:
            continue
        if starts.data is None or ends.data is None:
            raise services.ClassError(
                _("Give both dates of the term, or neither."),
                f"term{number}_{'starts_on' if starts.data is None else 'ends_on'}",
            )
        terms.append(services.TermDates(starts.data, ends.data))
    if len(terms) == 1 and form.term1_starts_on.data is None:
        raise services.ClassError(_("Fill in the first term first."), "term1_starts_on")
    starts_on, ends_on = form.starts_on.data, form.ends_on.data
    assert starts_on is not None  # InputRequired
    assert ends_on is not None
    name = (form.name.data or "").strip() or f"{starts_on.year}-{ends_on.year}"
    return {"name": name, "starts_on": starts_on, "ends_on": ends_on, "terms": terms}


def _save_year_form(
    bureau: orgs.Organisation, year: SchoolYear | None, form: SchoolYearForm
) -> Any:
    try:
        saved, _changed = services.save_year(bureau, year, **_year_values(form))
    except services.ClassError as error:
        db.session.rollback()
        getattr(form, error.field).errors = [str(error)]
        return None
    db.session.commit()
    flash(_("The school year %(name)s was saved.", name=saved.name), "info")
    return redirect(url_for(".school_years"))


@bp.route("/b/<bureau>/admin/school-years/", methods=["GET", "POST"])
@require("bureau.school_years")
def school_years() -> Any:
    """List the bureau's school years and terms and add a new one."""
    bureau = g.bureau
    form = SchoolYearForm()
    if form.validate_on_submit() and (response := _save_year_form(bureau, None, form)):
        return response
    return render_template(
        "kaimen/classes/school_years.html",
        bureau=bureau,
        years=services.years_of(bureau),
        current=services.current_year(bureau),
        form=form,
    )


@bp.route("/b/<bureau>/admin/school-years/<int:school_year_id>", methods=["GET", "POST"])
@require("bureau.school_years")
def edit_school_year(school_year_id: int) -> Any:
    """Change a school year's name, dates and terms."""
    bureau = g.bureau
    year = db.session.get(SchoolYear, school_year_id)
    if year is None or year.bureau_id != bureau.id:
        abort(404)
    form = SchoolYearForm(obj=year)
    if request.method == "GET":
        for term in year.terms:
            getattr(form, f"term{term.number}_starts_on").data = term.starts_on
            getattr(form, f"term{term.number}_ends_on").data = term.ends_on
    if form.validate_on_submit() and (response := _save_year_form(bureau, year, form)):
        return response
    return render_template("kaimen/classes/school_year.html", bureau=bureau, year=year, form=form)


# -- a school's classes -----------------------------------------------------------------


def _chosen_year(school: orgs.Organisation) -> tuple[list[SchoolYear], SchoolYear | None]:
    years = services.years_of(school)
    wanted = request.args.get("year", "")
    chosen = next((y for y in years if str(y.id) == wanted), None)
    return years, chosen or services.current_year(school) or (years[0] if years else None)


@bp.get("/s/<school>/admin/classes/")
@require("classes.view")
def class_list() -> Any:
    """List the school's classes of a school year with their teachers."""
    school = g.school
    years, year = _chosen_year(school)
    return render_template(
        "kaimen/classes/classes.html",
        school=school,
        years=years,
        year=year,
        classes=services.classes_of(school, year),
        locale=str(get_locale()),
    )


def _class_form(school: orgs.Organisation, obj: SchoolClass | None) -> SchoolClassForm:
    form = SchoolClassForm(obj=obj)
    locale = str(get_locale())
    years = services.years_of(school)
    teachers = services.teachers_of(school)
    if obj is not None:
        # A teacher who has since left keeps showing until someone changes the class.
        teachers += [t for t in [obj.class_teacher, *obj.teachers] if t and t not in teachers]
    form.school_year.choices = [(y.id, y.name) for y in years]
    form.grade.choices = [(grade, grade_label(grade, locale)) for grade in GRADES]
    form.class_teacher.choices = [(0, "—")] + [(t.id, t.display_name) for t in teachers]
    form.teachers.choices = [(t.id, t.display_name) for t in teachers]
    if request.method == "GET":
        if obj is not None:
            form.school_year.data = obj.school_year_id
            form.class_teacher.data = obj.class_teacher_id or 0
            form.teachers.data = [t.id for t in obj.teachers]
        else:
            current = services.current_year(school)
            form.school_year.data = current.id if current else None
    return form


def _save_class_form(
    school: orgs.Organisation, school_class: SchoolClass | None, form: SchoolClassForm
) -> Any:
    year = db.session.get(SchoolYear, form.school_year.data)
    # The class's own teachers too: one who has left is refused by name, not dropped silently.
    known = services.teachers_of(school)
    if school_class is not None:
        known += [t for t in [school_class.class_teacher, *school_class.teachers] if t]
    users = {t.id: t for t in known}
    try:
        if year is None:
            raise services.ClassError(_("Choose a school year of this bureau."), "school_year")
        saved, _changed = services.save_class(
            school,
            school_class,
            year=year,
            grade=form.grade.data,
            name=form.name.data or "",
            class_teacher=users.get(form.class_teacher.data) if form.class_teacher.data else None,
            teachers=[users[i] for i in form.teachers.data or [] if i in users],
        )
    except services.ClassError as error:
        db.session.rollback()
        getattr(form, error.field).errors = [str(error)]
        return None
    db.session.commit()
    flash(_("The class %(name)s was saved.", name=saved.label(str(get_locale()))), "info")
    return redirect(url_for(".class_list", year=saved.school_year_id))


@bp.route("/s/<school>/admin/classes/new", methods=["GET", "POST"])
@require("classes.manage")
def new_class() -> Any:
    """Add a class to the school."""
    school = g.school
    form = _class_form(school, None)
    if not form.school_year.choices:
        flash(_("The bureau has not set up a school year yet."), "error")
        return redirect(url_for(".class_list"))
    if form.validate_on_submit() and (response := _save_class_form(school, None, form)):
        return response
    return render_template("kaimen/classes/class_form.html", school=school, form=form, obj=None)


@bp.route("/s/<school>/admin/classes/<int:school_class_id>", methods=["GET", "POST"])
@require("classes.manage")
def edit_class(school_class_id: int) -> Any:
    """Change a class: its grade, name, class teacher and other teachers."""
    school = g.school
    school_class = db.get_or_404(SchoolClass, school_class_id)
    form = _class_form(school, school_class)
    if form.validate_on_submit() and (response := _save_class_form(school, school_class, form)):
        return response
    return render_template(
        "kaimen/classes/class_form.html",
        school=school,
        form=form,
        obj=school_class,
        delete_form=DeleteForm(),
    )


@bp.post("/s/<school>/admin/classes/<int:school_class_id>/delete")
@require("classes.manage")
def delete_class(school_class_id: int) -> Any:
    """Delete a class that nothing refers to yet."""
    school = g.school
    school_class = db.get_or_404(SchoolClass, school_class_id)
    year_id = school_class.school_year_id
    if not DeleteForm().validate_on_submit():
        abort(400)
    try:
        services.delete_class(school, school_class)
    except services.ClassError as error:
        db.session.rollback()
        flash(str(error), "error")
        return redirect(url_for(".edit_class", school_class_id=school_class_id))
    db.session.commit()
    flash(_("The class was deleted."), "info")
    return redirect(url_for(".class_list", year=year_id))


@bp.route("/s/<school>/admin/classes/import", methods=["GET", "POST"])
@require("classes.manage")
def import_classes() -> Any:
    """Import classes from an Excel or CSV file, all of it or nothing."""
    school = g.school
    years = services.years_of(school)
    form = ImportForm()
    form.school_year.choices = [(y.id, y.name) for y in years]
    if request.method == "GET":
        current = services.current_year(school)
        form.school_year.data = current.id if current else None
    report = None
    if form.validate_on_submit():
        upload = form.file.data
        default_year = next((y for y in years if y.id == form.school_year.data), None)
        report = importer.import_classes(
            school, upload.filename or "", upload.read(importer.MAX_BYTES + 1), default_year
        )
        if report.ok:
            db.session.commit()
            flash(
                _(
                    "Imported: %(created)d classes added, %(updated)d changed, "
                    "%(unchanged)d already as in the file.",
                    created=len(report.created),
                    updated=len(report.updated),
                    unchanged=report.unchanged,
                ),
                "info",
            )
            return redirect(url_for(".class_list", year=form.school_year.data))
        db.session.rollback()
    return render_template(
        "kaimen/classes/import.html",
        school=school,
        form=form,
        report=report,
        columns=importer.COLUMNS,
    )


@bp.get("/s/<school>/admin/classes/export.csv", defaults={"fmt": "csv"})
@bp.get("/s/<school>/admin/classes/export.xlsx", defaults={"fmt": "xlsx"})
@require("classes.view")
def export_classes(fmt: str) -> Response:
    """Download the school year's classes in the import's format."""
    if fmt not in FORMATS:
        abort(404)
    school = g.school
    _years, year = _chosen_year(school)
    headers, rows = importer.export_rows(services.classes_of(school, year))
    name = f"{school.slug}-classes-{year.name if year else ''}".strip("-")
    return table_response(name, headers, rows, fmt)
