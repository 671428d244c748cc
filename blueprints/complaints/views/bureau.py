"""The bureau's pages: every case of its schools, figures by channel and area, time limits."""

from __future__ import annotations

from typing import Any

from flask import abort, flash, g, redirect, request, url_for
from flask_babel import gettext as _

from kaimen import Organisation, db, local_date, paginate, require, schools_under

from .. import deadlines, lists, metrics, services
from ..blueprint import bureau_blueprint as bp
from ..choices import CATEGORIES, CHANNELS
from ..forms import HolidayForm, SettingsForm
from ..models import Complaint, Holiday
from . import render


def _schools() -> list[Organisation]:
    return schools_under(g.bureau)


@bp.get("/")
@require("complaints.oversee")
def cases() -> Any:
    """List every case of the bureau's schools, leadership reports included."""
    schools = _schools()
    statement = lists.filtered(g.bureau, leadership=True, school_ids=[s.id for s in schools])
    values = lists.filter_values()
    return render("complaints/bureau_cases.html", page=paginate(statement), schools=schools,
                  values=values, query=lists.query_string(values),
                  today=local_date(g.bureau),
                  bureau=g.bureau)


@bp.get("/export.csv", defaults={"fmt": "csv"})
@bp.get("/export.xlsx", defaults={"fmt": "xlsx"})
@require("complaints.oversee")
def export(fmt: str) -> Any:
    """Download the bureau's filtered list as CSV or Excel."""
    statement = lists.filtered(g.bureau, leadership=True, school_ids=[s.id for s in _schools()])
    return lists.export(statement, fmt, f"opinions-{g.bureau.slug}", with_school=True,
                        leadership_column=True, today=local_date(g.bureau))


@bp.get("/figures")
@require("complaints.oversee")
def figures() -> Any:
    """Count opinions by channel and by area for each school."""
    schools = _schools()
    sections = [(title, *metrics.breakdown(schools, column), labels)
                for title, column, labels in ((_("By channel"), Complaint.channel, CHANNELS),
                                              (_("By area"), Complaint.category, CATEGORIES))]
    return render("complaints/bureau_figures.html", schools=schools, bureau=g.bureau,
                  sections=sections)


@bp.route("/settings", methods=["GET", "POST"])
@require("complaints.supervise")
def settings() -> Any:
    """Set the working days to acknowledge and to answer, and the holidays."""
    current = deadlines.settings_of(g.bureau)
    form = SettingsForm(obj=current)
    holiday_form = HolidayForm(formdata=None)
    if request.method == "POST" and form.validate_on_submit():
        services.set_time_limits(g.bureau, form.acknowledge_days.data, form.answer_days.data)
        db.session.commit()
        flash(_("The time limits were saved. They apply to opinions received from now on."),
              "info")
        return redirect(url_for(".settings"))
    return _settings_page(form, holiday_form, 400 if request.method == "POST" else 200)


def _settings_page(form: Any, holiday_form: Any, status: int = 200) -> Any:
    return render("complaints/bureau_settings.html", form=form, holiday_form=holiday_form,
                  holidays=deadlines.holidays_of(g.bureau), bureau=g.bureau), status


@bp.post("/holidays")
@require("complaints.supervise")
def add_holiday() -> Any:
    """Add a holiday, or a weekend day that is worked."""
    holiday_form = HolidayForm()
    form = SettingsForm(formdata=None, obj=deadlines.settings_of(g.bureau))
    if not holiday_form.validate_on_submit():
        return _settings_page(form, holiday_form, 400)
    try:
        services.add_holiday(g.bureau, holiday_form.day.data, holiday_form.name.data or "",
                             bool(holiday_form.working.data))
    except services.WorkflowError as error:
        holiday_form.day.errors = [str(error.message)]
        return _settings_page(form, holiday_form, 400)
    db.session.commit()
    flash(_("The date was added."), "info")
    return redirect(url_for(".settings"))


@bp.post("/holidays/<int:holiday_id>/delete")
@require("complaints.supervise")
def delete_holiday(holiday_id: int) -> Any:
    """Remove a date from the holiday list."""
    holiday = db.session.get(Holiday, holiday_id)
    if holiday is None or holiday.bureau_id != g.bureau.id:
        abort(404)
    services.remove_holiday(g.bureau, holiday)
    db.session.commit()
    flash(_("The date was removed."), "info")
    return redirect(url_for(".settings"))
