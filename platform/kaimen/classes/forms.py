"""Forms of the school-year and class pages."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import SelectField, SelectMultipleField, StringField, widgets
from wtforms.fields import DateField
from wtforms.validators import DataRequired, InputRequired, Length, Optional


class SchoolYearForm(FlaskForm):
    name = StringField(
        _l("Name"),
        validators=[Optional(), Length(max=40)],
        description=_l("Such as 2026-2027. Left empty, it is made from the dates."),
    )
    starts_on = DateField(_l("First day"), validators=[InputRequired(message=_l("Enter a date."))])
    ends_on = DateField(_l("Last day"), validators=[InputRequired(message=_l("Enter a date."))])
    term1_starts_on = DateField(_l("First term starts"), validators=[Optional()])
    term1_ends_on = DateField(_l("First term ends"), validators=[Optional()])
    term2_starts_on = DateField(_l("Second term starts"), validators=[Optional()])
    term2_ends_on = DateField(_l("Second term ends"), validators=[Optional()])


class CheckboxesField(SelectMultipleField):
    """Several choices as checkboxes: easier than a multiple select on a phone."""

    widget = widgets.ListWidget(prefix_label=False)
    option_widget = widgets.CheckboxInput()


class SchoolClassForm(FlaskForm):
    school_year = SelectField(_l("School year"), coerce=int, choices=[])
    grade = SelectField(_l("Grade"), coerce=int, choices=[])
    name = StringField(
        _l("Class"),
        validators=[DataRequired(message=_l("Name the class, such as 1班.")), Length(max=40)],
    )
    class_teacher = SelectField(_l("Class teacher"), coerce=int, choices=[])
    teachers = CheckboxesField(_l("Other teachers"), coerce=int, choices=[])


class ImportForm(FlaskForm):
    school_year = SelectField(_l("School year of rows that name none"), coerce=int, choices=[])
    file = FileField(
        _l("Excel or CSV file"),
        validators=[FileRequired(message=_l("Choose the file to import."))],
    )


class DeleteForm(FlaskForm):
    """Only the CSRF token."""
