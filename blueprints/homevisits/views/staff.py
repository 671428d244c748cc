"""The staff pages of a school's home-visit book: teachers log visits, admins oversee them."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from flask import abort, flash, g, redirect, render_template, request, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_login import current_user
from werkzeug.wrappers import Response
from wtforms.fields.choices import SelectChoice

from kaimen import db, local_date, paginate, private, require, table_response
from kaimen.classes import SchoolClass

from .. import queries, services
from .. import roster as roster_import
from ..blueprint import school_blueprint as bp
from ..forms import (
    FIELD_LABELS,
    ActionForm,
    AmendForm,
    FilterForm,
    RosterForm,
    VisitForm,
    choices,
)
from ..models import METHODS, TOPICS, HomeVisit, Student

T = TypeVar("T")


def attempt(action: Callable[[], T], form: Any = None) -> T | None:
    """Run one service call as the request's transaction; return its result, None if refused.

    A refusal rolls everything back and is shown under the form's field, or flashed.
    """
    try:
        result = action()
    except services.VisitError as error:
        db.session.rollback()
        target = getattr(form, error.field, None) if form is not None and error.field else None
        if target is not None:
            target.errors = [*target.errors, str(error)]
        else:
            flash(str(error), "error")
        return None
    db.session.commit()
    return result


@bp.context_processor
def _labels() -> dict[str, Any]:
    return {"methods": METHODS, "field_labels": FIELD_LABELS}


def load_student(student_id: int) -> Student:
    """Return the school's student: 404 for another school's, 403 outside the user's classes."""
    student = db.get_or_404(Student, student_id)
    if student.school_id != g.school.id:
        abort(404)
    try:
        services.check_reach(current_user, g.school, student)
    except services.NotYourStudent:
        abort(403)
    return student


def load_visit(home_visit_id: int) -> HomeVisit:
    """Return a visit the user may see: their own, or any of the school's for its admins."""
    visit = db.get_or_404(HomeVisit, home_visit_id)
    if visit.school_id != g.school.id:
        abort(404)
    if visit.teacher_id != current_user.id and not services.manages(current_user, g.school):
        abort(404)
    return visit


@bp.get("/")
@require("homevisits.log")
def my_classes() -> str:
    """List the students of the user's classes, those not reached this term first."""
    private()
    school, today = g.school, local_date(g.school)
    term = services.current_term_of(school)
    window = queries.term_window(term, today)
    classes = queries.my_classes(school, services.own_classes(current_user, school), window)
    return render_template("homevisits/my_classes.html", classes=classes, term=term,
                           manages=services.manages(current_user, school),
                           method_names={key: str(label) for key, label in METHODS.items()})


@bp.get("/new")
@require("homevisits.log")
def find_student() -> str:
    """Find a student of the user's classes by name or number, to log a visit."""
    private()
    school, text = g.school, request.args.get("q", "")[:40]
    class_ids = (None if services.manages(current_user, school)
                 else [c.id for c in services.own_classes(current_user, school)])
    students = queries.find_students(school, class_ids, text) if text else []
    return render_template("homevisits/find.html", students=students, q=text)


@bp.route("/students/<int:student_id>/visits/new", methods=["GET", "POST"])
@require("homevisits.log")
def new_visit(student_id: int) -> Any:
    """Log a visit to a student's family (the quick entry)."""
    private()
    student = load_student(student_id)
    form = VisitForm()
    if request.method == "GET":
        form.visited_on.data = local_date(g.school)
    if form.validate_on_submit() and (visit := attempt(
        lambda: services.log_visit(g.school, current_user, student, form.values()), form
    )) is not None:
        flash(_("The home visit was logged."), "info")
        return redirect(url_for(".show_visit", home_visit_id=visit.id))
    return render_template("homevisits/visit_form.html", form=form, student=student, visit=None)


@bp.get("/students/<int:student_id>")
@require("homevisits.log")
def show_student(student_id: int) -> str:
    """Show a student's guardians and visits (a teacher sees their own entries)."""
    private()
    student = load_student(student_id)
    visits = queries.student_visits(student)
    if not services.manages(current_user, g.school):
        visits = [v for v in visits if v.teacher_id == current_user.id]
    return render_template("homevisits/student.html", student=student, visits=visits)


@bp.get("/visits/<int:home_visit_id>")
@require("homevisits.log")
def show_visit(home_visit_id: int) -> str:
    """Show one visit with its amendments."""
    private()
    visit = load_visit(home_visit_id)
    return render_template("homevisits/visit.html", visit=visit, action=ActionForm(),
                           mine=visit.teacher_id == current_user.id,
                           amend_only=services.amend_only(visit, local_date(g.school)),
                           can_send=services.opinion_box_open(g.school))


@bp.route("/visits/<int:home_visit_id>/edit", methods=["GET", "POST"])
@require("homevisits.log")
def edit_visit(home_visit_id: int) -> Any:
    """Change one's own visit; after 7 days, as an amendment with a reason."""
    private()
    visit = load_visit(home_visit_id)
    if visit.teacher_id != current_user.id:
        abort(403)
    amend_only = services.amend_only(visit, local_date(g.school))
    form = AmendForm(obj=visit if request.method == "GET" else None)
    if request.method == "GET":
        form.topics.data = visit.topic_keys
    if form.validate_on_submit():
        changed = attempt(lambda: services.change_visit(
            g.school, visit, current_user, form.values(), form.reason.data or ""), form)
        if changed is not None:
            flash(_("The visit was amended.") if changed and amend_only
                  else _("The visit was changed.") if changed else _("Nothing was changed."),
                  "info")
            return redirect(url_for(".show_visit", home_visit_id=visit.id))
    return render_template("homevisits/visit_form.html", form=form, student=visit.student,
                           visit=visit, amend_only=amend_only)


@bp.post("/visits/<int:home_visit_id>/follow-up")
@require("homevisits.log")
def follow_up_done(home_visit_id: int) -> Response:
    """Mark a visit's follow-up done."""
    visit = load_visit(home_visit_id)
    if ActionForm().validate_on_submit() and attempt(
        lambda: services.complete_follow_up(g.school, visit, current_user)
    ):
        flash(_("The follow-up is marked done."), "info")
    return redirect(url_for(".show_visit", home_visit_id=visit.id))


@bp.post("/visits/<int:home_visit_id>/opinion")
@require("homevisits.log")
def send_opinion(home_visit_id: int) -> Response:
    """Send the parents' opinion recorded in a visit to the school's opinion box."""
    visit = load_visit(home_visit_id)
    if ActionForm().validate_on_submit() and attempt(
        lambda: services.send_opinion(g.school, visit, current_user)
    ):
        flash(_("The opinion was sent to the opinion box."), "info")
    return redirect(url_for(".show_visit", home_visit_id=visit.id))


@bp.get("/mine")
@require("homevisits.log")
def my_visits() -> str:
    """List the visits the user logged, newest first."""
    private()
    query = queries.visits(g.school, queries.VisitFilters(), local_date(g.school),
                           teacher_id=current_user.id)
    return render_template("homevisits/mine.html", page=paginate(query))


# --- the school's admins --------------------------------------------------------------------


def _filters(form: FilterForm) -> queries.VisitFilters:
    """Return the list's filters from the query string; values outside the choices are ignored."""
    def choice(field: Any) -> str | None:
        return field.data if field.data in {c.value for c in field.choices} - {""} else None

    school_class, teacher = choice(form.school_class), choice(form.teacher)
    return queries.VisitFilters(
        school_class_id=int(school_class) if school_class else None,
        teacher_id=int(teacher) if teacher else None,
        method=choice(form.method), topic=choice(form.topic),
        date_from=form.date_from.data if not form.date_from.errors else None,
        date_to=form.date_to.data if not form.date_to.errors else None,
        follow_up=choice(form.follow_up),
    )


def _filter_form() -> FilterForm:
    form = FilterForm(request.args)
    form.validate()
    school = g.school
    every = [SelectChoice("", _("All"))]
    form.school_class.choices = every + [SelectChoice(str(c.id), c.label(str(get_locale())))
                                         for c in services.classes_of_year(school)]
    form.teacher.choices = every + [SelectChoice(str(u.id), u.display_name)
                                    for u in services.teachers(school)]
    form.method.choices = every + choices(METHODS)
    form.topic.choices = every + choices(TOPICS)
    form.follow_up.choices = every + choices({"due": _("Follow-up open"),
                                              "overdue": _("Follow-up overdue")})
    return form


@bp.get("/visits")
@require("homevisits.manage")
def school_visits() -> str:
    """List the school's visits, filtered by class, teacher, method, topic, date, follow-up."""
    private()
    form = _filter_form()
    query = queries.visits(g.school, _filters(form), local_date(g.school))
    return render_template("homevisits/visits.html", form=form, page=paginate(query),
                           query_string=request.query_string.decode())


@bp.get("/visits/export.csv", defaults={"fmt": "csv"})
@bp.get("/visits/export.xlsx", defaults={"fmt": "xlsx"})
@require("homevisits.manage")
def export_visits(fmt: str) -> Response:
    """Download the filtered visits as Excel or CSV (the school's own, with names)."""
    form = _filter_form()
    query = queries.visits(g.school, _filters(form), local_date(g.school))
    headers, rows = services.export_rows(g.school, db.session.scalars(query))
    return table_response(f"homevisits-{g.school.slug}", headers, rows, fmt)


@bp.get("/coverage")
@require("homevisits.manage")
def coverage() -> str:
    """Show this term's coverage per class and for the school, and the follow-ups due."""
    private()
    school, today = g.school, local_date(g.school)
    term = services.current_term_of(school)
    classes = services.classes_of_year(school)
    per_class, total = queries.class_coverage(school, classes, queries.term_window(term, today))
    return render_template("homevisits/coverage.html", term=term, classes=classes,
                           per_class=per_class, total=total,
                           follow_ups=queries.follow_up_counts(school, today))


@bp.get("/classes/<int:school_class_id>/book")
@require("homevisits.manage")
def class_book(school_class_id: int) -> str:
    """Show a class's home-visit book for printing: one student per block."""
    private()
    school_class = db.get_or_404(SchoolClass, school_class_id)
    if school_class.school_id != g.school.id:
        abort(404)
    return render_template("homevisits/book.html", school_class=school_class,
                           book=queries.class_book(g.school, school_class))


@bp.route("/roster", methods=["GET", "POST"])
@require("homevisits.manage")
def roster() -> Any:
    """Import the school's roster of students and guardians from Excel or CSV."""
    private()
    form, report = RosterForm(), None
    if form.validate_on_submit():
        upload = form.file.data
        content = upload.stream.read(roster_import.MAX_BYTES + 1)
        upload.close()  # a large upload is spooled to a temporary file
        report = roster_import.import_roster(g.school, services.year_of(g.school),
                                             upload.filename or "", content)
        if report.ok:
            db.session.commit()
            flash(_("Roster imported: %(created)d new, %(updated)d changed, %(unchanged)d "
                    "unchanged.", created=report.created, updated=report.updated,
                    unchanged=report.unchanged), "info")
            return redirect(url_for(".roster"))
        db.session.rollback()
    return render_template("homevisits/roster.html", form=form, report=report,
                           columns=roster_import.headings(),
                           students=queries.count_students(g.school))
