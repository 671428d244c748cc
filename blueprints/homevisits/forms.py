"""Forms of the home-visit book: the quick entry, its amendment, the roster file, filters."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import (
    DateField,
    HiddenField,
    RadioField,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
    widgets,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import InputRequired, Length, Optional

from .models import METHODS, TEXT_LENGTH, TOPICS
from .services import VisitValues


class CheckboxesField(SelectMultipleField):
    """Several choices as checkboxes: easier than a multiple select on a phone."""

    widget = widgets.ListWidget(prefix_label=False)
    option_widget = widgets.CheckboxInput()


def choices(labels: dict[str, object]) -> list[SelectChoice]:
    """Return ``{value: label}`` as the choices of a field."""
    return [SelectChoice(value, label) for value, label in labels.items()]


def _text(label: object, rows: int = 3) -> TextAreaField:
    return TextAreaField(label, validators=[Optional(), Length(max=TEXT_LENGTH)],
                         render_kw={"rows": rows})


class VisitForm(FlaskForm):
    """The quick entry of one visit, built for a phone."""

    student = HiddenField()
    visited_on = DateField(_l("Date"), validators=[InputRequired(message=_l("Enter a date."))])
    method = RadioField(
        _l("How"), choices=choices(METHODS),
        validators=[InputRequired(message=_l("Choose how the family was reached."))],
    )
    participants = StringField(_l("Who took part"), validators=[Optional(), Length(max=200)],
                               description=_l("Such as: mother, grandfather, the student."))
    topics = CheckboxesField(_l("Topics"), choices=choices(TOPICS))
    summary = _text(_l("Summary"), 4)
    parents_opinion = _text(_l("Parents' opinions"))
    follow_up = _text(_l("Follow-up actions"), 2)
    follow_up_due = DateField(_l("Follow-up due"), validators=[Optional()])

    def values(self) -> VisitValues:
        """Return the form's values for the services (after validation)."""
        assert self.visited_on.data is not None  # InputRequired
        return VisitValues(
            visited_on=self.visited_on.data, method=self.method.data or "",
            topics=list(self.topics.data or []), participants=self.participants.data or "",
            summary=self.summary.data or "", parents_opinion=self.parents_opinion.data or "",
            follow_up=self.follow_up.data or "", follow_up_due=self.follow_up_due.data,
        )


class AmendForm(VisitForm):
    """A change to a visit; after its 7 days, with the reason for the amendment."""

    reason = TextAreaField(_l("Reason for the amendment"),
                           validators=[Optional(), Length(max=1000)], render_kw={"rows": 2})


class RosterForm(FlaskForm):
    file = FileField(_l("Excel or CSV file"),
                     validators=[FileRequired(message=_l("Choose the file to import."))])


class ActionForm(FlaskForm):
    """Only the CSRF token: a button that changes something."""


class FilterForm(FlaskForm):
    """The filters of the school's list, read from the query string."""

    class Meta:
        csrf = False

    school_class = SelectField(_l("Class"), choices=[], validators=[Optional()])
    teacher = SelectField(_l("Teacher"), choices=[], validators=[Optional()])
    method = SelectField(_l("How"), choices=[], validators=[Optional()])
    topic = SelectField(_l("Topic"), choices=[], validators=[Optional()])
    date_from = DateField(_l("From"), validators=[Optional()])
    date_to = DateField(_l("To"), validators=[Optional()])
    follow_up = SelectField(_l("Follow-up"), choices=[], validators=[Optional()])


# What an amendment calls each field it changed.
FIELD_LABELS = {name: getattr(VisitForm, name).args[0] for name in (
    "visited_on", "method", "participants", "topics", "summary", "parents_opinion",
    "follow_up", "follow_up_due")}
