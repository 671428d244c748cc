"""The bureau's pages: every case of its schools, figures by channel and area, time limits."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from flask import Blueprint, abort, flash, g, redirect, request, url_for
from flask_babel import gettext as _
from sqlalchemy.exc import IntegrityError

from kaimen import audit, require
from kaimen.extensions import db
from kaimen.orgs import schools_under
from kaimen.pagination import paginate

from . import deadlines, lists, metrics
from .choices import CATEGORIES, CHANNELS
from .forms import HolidayForm, SettingsForm
from .models import Complaint, Holiday
from .views import NAME, no_store, render

bp = Blueprint(f"{NAME}_bureau", __name__, template_folder="templates", static_folder="static")


@bp.after_request
def _no_store(response: Any) -> Any:
    response.headers["Cache-Control"] = "no-store"
    return response


def _schools() -> list[Any]:
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
                  today=deadlines.local_date(g.bureau),
                  bureau=g.bureau)


@bp.get("/export.csv", defaults={"fmt": "csv"})
@bp.get("/export.xlsx", defaults={"fmt": "xlsx"})
@require("complaints.oversee")
def export(fmt: str) -> Any:
    """Download the bureau's filtered list as CSV or Excel."""
    statement = lists.filtered(g.bureau, leadership=True, school_ids=[s.id for s in _schools()])
    return lists.export(statement, fmt, f"opinions-{g.bureau.slug}", with_school=True,
                        leadership_column=True, today=deadlines.local_date(g.bureau))


@bp.get("/figures")
@require("complaints.oversee")
def figures() -> Any:
    """Count opinions by channel and by area for each school."""
    schools = _schools()
    sections = []
    for title, column, labels in ((_("By channel"), Complaint.channel, CHANNELS),
                                  (_("By area"), Complaint.category, CATEGORIES)):
        counts = metrics.breakdown(schools, column)
        totals: dict[str, int] = {}
        for row in counts.values():
            for key, count in row.items():
                totals[key] = totals.get(key, 0) + count
        sections.append((title, counts, labels, totals))
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
        current.acknowledge_days = form.acknowledge_days.data
        current.answer_days = form.answer_days.data
        db.session.add(current)
        audit.record("complaint.settings_changed", bureau=g.bureau,
                     data={"acknowledge_days": current.acknowledge_days,
                           "answer_days": current.answer_days})
        db.session.commit()
        flash(_("The time limits were saved. They apply to opinions received from now on."),
              "info")
        return redirect(url_for(".settings"))
    return _settings_page(form, holiday_form, 400 if request.method == "POST" else 200)


def _settings_page(form: Any, holiday_form: Any, status: int = 200) -> Any:
    holidays = db.session.scalars(sa.select(Holiday).where(Holiday.bureau_id == g.bureau.id)
                                  .order_by(Holiday.day.desc())).all()
    return no_store(render("complaints/bureau_settings.html", form=form,
                           holiday_form=holiday_form, holidays=holidays, bureau=g.bureau), status)


@bp.post("/holidays")
@require("complaints.supervise")
def add_holiday() -> Any:
    """Add a holiday, or a weekend day that is worked."""
    holiday_form = HolidayForm()
    form = SettingsForm(formdata=None, obj=deadlines.settings_of(g.bureau))
    if not holiday_form.validate_on_submit():
        return _settings_page(form, holiday_form, 400)
    holiday = Holiday(bureau_id=g.bureau.id, day=holiday_form.day.data,
                      name=holiday_form.name.data or "", working=bool(holiday_form.working.data))
    try:
        with db.session.begin_nested():
            db.session.add(holiday)
    except IntegrityError:
        holiday_form.day.errors = [_("This date is already in the list.")]
        return _settings_page(form, holiday_form, 400)
    audit.record("complaint.holiday_added", bureau=g.bureau,
                 data={"day": holiday.day.isoformat(), "working": holiday.working})
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
    db.session.delete(holiday)
    audit.record("complaint.holiday_removed", bureau=g.bureau,
                 data={"day": holiday.day.isoformat()})
    db.session.commit()
    flash(_("The date was removed."), "info")
    return redirect(url_for(".settings"))
