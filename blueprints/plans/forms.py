"""Forms of the plans: a campaign, a problem, a measure, the review, the ledger's actions."""

from __future__ import annotations

from typing import Any

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import (
    DateField,
    MultipleFileField,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, InputRequired, Length, Optional

from .models import CATEGORIES, ITEM_STATUSES, MEASURE_FIELDS, NOTE_MAX, SHORT_MAX, STAGE_LABELS
from .models import TEXT_MAX as TEXT_LIMIT


def _too_long(limit: int) -> Any:
    return Length(max=limit, message=_l("Write at most %(max)d characters.", max=limit))


def _date(label: Any) -> DateField:
    return DateField(label, validators=[InputRequired(message=_l("Enter a date."))])


class CampaignForm(FlaskForm):
    """A campaign's title, its first day and the last day of each stage."""

    title = StringField(_l("Title"), validators=[
        DataRequired(message=_l("Give the campaign a title.")), _too_long(200)])
    starts_on = _date(_l("Starts on"))
    mobilise_until = _date(_l("%(stage)s: last day", stage=STAGE_LABELS["mobilise"]))
    inspect_until = _date(_l("%(stage)s: last day", stage=STAGE_LABELS["inspect"]))
    rectify_until = _date(_l("%(stage)s: last day", stage=STAGE_LABELS["rectify"]))
    review_until = _date(_l("%(stage)s: last day", stage=STAGE_LABELS["review"]))


class ProblemForm(FlaskForm):
    """A problem: its area, what is wrong, and the opinions it answers."""

    category = SelectField(_l("Area"), choices=[SelectChoice(k, v) for k, v in CATEGORIES.items()])
    description = TextAreaField(_l("Problem"), validators=[
        DataRequired(message=_l("Describe the problem.")), _too_long(TEXT_LIMIT)])
    cases = SelectMultipleField(_l("Opinions from the opinion box it answers"), coerce=int,
                                choices=[], validate_choice=True)
    other_opinions = TextAreaField(_l("Other opinions it answers (forums, letters, visits …)"),
                                   validators=[_too_long(TEXT_LIMIT)])

    def content(self) -> dict[str, Any]:
        """Return the submitted fields as the services take them."""
        return {"category": self.category.data, "description": self.description.data,
                "cases": self.cases.data or [], "other_opinions": self.other_opinions.data}


class MeasureForm(FlaskForm):
    """A measure: what will be done, its target, who answers for it and by when."""

    action = TextAreaField(_l("What will be done"), validators=[
        DataRequired(message=_l("Say what will be done.")), _too_long(TEXT_LIMIT)])
    target = TextAreaField(_l("Target"), validators=[_too_long(TEXT_LIMIT)])
    responsible_person = StringField(_l("Responsible person"), validators=[_too_long(SHORT_MAX)])
    responsible_unit = StringField(_l("Responsible unit or department"),
                                   validators=[_too_long(SHORT_MAX)])
    deadline = DateField(_l("Deadline"), validators=[Optional()])

    def content(self) -> dict[str, Any]:
        """Return the submitted fields as the services take them."""
        return {name: self[name].data for name in MEASURE_FIELDS}


class ConfirmForm(FlaskForm):
    """A button: submit, delete, sign off; nothing to fill in but the CSRF token."""

    note = TextAreaField(_l("Note (optional)"), validators=[_too_long(NOTE_MAX)])


class ReviewForm(FlaskForm):
    """The reviewer's comment on the whole plan; comments on measures come as extra fields."""

    comment = TextAreaField(_l("Comment on the plan"), validators=[_too_long(NOTE_MAX)])


class ProgressForm(FlaskForm):
    """The school's report on an item: status, what was done, evidence."""

    status = SelectField(_l("Status"), choices=[SelectChoice(k, v)
                                                for k, v in ITEM_STATUSES.items()])
    text = TextAreaField(_l("What was done"), validators=[_too_long(NOTE_MAX)])
    evidence = MultipleFileField(_l("Evidence: photos or PDF documents (optional)"))


class UrgeForm(FlaskForm):
    """A supervisor's urging (督办): an instruction and a date to report by."""

    instruction = TextAreaField(_l("Instruction"), validators=[
        DataRequired(message=_l("Write the instruction.")), _too_long(NOTE_MAX)])
    due_on = _date(_l("Report by"))


class ReopenForm(FlaskForm):
    """Reopen a signed-off item, with a reason."""

    reason = TextAreaField(_l("Reason"), validators=[
        DataRequired(message=_l("Give the reason for reopening the item.")),
        _too_long(NOTE_MAX)])


class BulkForm(FlaskForm):
    """The ledger file exported from this page, edited in a spreadsheet program."""

    upload = FileField(_l("Edited ledger file (Excel .xlsx or CSV)"))
