"""Forms of the open-day calendar: the event, the parent's registration, check-in, feedback."""

from __future__ import annotations

import re
from typing import Any

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    DateTimeLocalField,
    HiddenField,
    IntegerField,
    RadioField,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import InputRequired, Length, NumberRange, Optional, ValidationError
from wtforms.widgets import CheckboxInput, ListWidget

from kaimen import receipts
from kaimen.forms import Email, MainlandPhone, compact_phone

from .models import (
    CLASS_MAX,
    CONFIRMED,
    EMAIL_MAX,
    GRADES_MAX,
    KINDS,
    NAME_MAX,
    OPEN_DAY,
    OPEN_WEEK,
    OTHER,
    PARENT_SCHOOL,
    PLACE_MAX,
    TITLE_MAX,
    WAITLISTED,
    WITHDRAWN,
)

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
KIND_LABELS = {OPEN_DAY: _l("Open day"), OPEN_WEEK: _l("Open week"),
               PARENT_SCHOOL: _l("Parent-school session"), OTHER: _l("Other event")}
assert set(KIND_LABELS) == set(KINDS)
STATUS_LABELS = {CONFIRMED: _l("Confirmed"), WAITLISTED: _l("On the waitlist"),
                 WITHDRAWN: _l("Cancelled by the parent")}
DATETIME_FORMAT = "%Y-%m-%dT%H:%M"


def clean(value: Any) -> Any:
    """Strip surrounding space and control characters (a NUL breaks PostgreSQL text)."""
    if isinstance(value, str):
        return _CONTROL.sub("", value).strip()
    return value


def _required(message: Any) -> InputRequired:
    return InputRequired(message=message)


class OpenDayForm(FlaskForm):
    """An event as the school's staff schedule it; times in the bureau's time zone."""

    kind = SelectField(_l("Kind"), default=OPEN_DAY,
                       choices=[SelectChoice(k, label) for k, label in KIND_LABELS.items()])
    title = StringField(_l("Title"), filters=[clean], validators=[
        _required(_l("Give the event a title.")),
        Length(max=TITLE_MAX, message=_l("Keep the title under 200 characters."))])
    description = TextAreaField(_l("What parents will see and do"), filters=[clean],
                                validators=[Length(max=5000)])
    place = StringField(_l("Place"), filters=[clean], validators=[
        _required(_l("Say where it takes place.")), Length(max=PLACE_MAX)])
    starts_at = DateTimeLocalField(_l("Starts"), format=DATETIME_FORMAT, validators=[
        _required(_l("Enter when it starts."))])
    ends_at = DateTimeLocalField(_l("Ends"), format=DATETIME_FORMAT, validators=[
        _required(_l("Enter when it ends."))])
    # Choices: the grades and classes of the school's current year (services.audience_choices).
    grades = SelectMultipleField(_l("For grades or classes (none ticked: everyone)"),
                                 widget=ListWidget(prefix_label=False),
                                 option_widget=CheckboxInput(), choices=[])
    capacity = IntegerField(_l("Capacity in people (empty: no limit)"), validators=[
        Optional(), NumberRange(min=1, max=100000,
                                message=_l("Enter a number of people, at least 1."))])
    max_attendees = IntegerField(_l("Attendees allowed per registration"), default=2,
                                 validators=[_required(_l("Enter a number from 1 to 20.")),
                                             NumberRange(min=1, max=20, message=_l(
                                                 "Enter a number from 1 to 20."))])
    registration_opens_at = DateTimeLocalField(_l("Registration opens (empty: now)"),
                                               format=DATETIME_FORMAT, validators=[Optional()])
    registration_closes_at = DateTimeLocalField(
        _l("Registration closes (empty: when it starts)"), format=DATETIME_FORMAT,
        validators=[Optional()])
    feedback_enabled = BooleanField(_l("Ask parents for feedback after the event"),
                                    default=True)

    def validate_grades(self, field: Any) -> None:
        if len(",".join(field.data or [])) > GRADES_MAX:
            raise ValidationError(_l("Tick fewer classes, or the grades they are in."))


class PushForm(FlaskForm):
    """A county-wide event the bureau pushes to its schools; each fills in its details."""

    kind = SelectField(_l("Kind"), default=OPEN_WEEK,
                       choices=[SelectChoice(k, label) for k, label in KIND_LABELS.items()])
    title = StringField(_l("Title"), filters=[clean], validators=[
        _required(_l("Give the event a title.")),
        Length(max=TITLE_MAX, message=_l("Keep the title under 200 characters."))])
    description = TextAreaField(_l("What parents will see and do"), filters=[clean],
                                validators=[Length(max=5000)])
    starts_at = DateTimeLocalField(_l("Starts"), format=DATETIME_FORMAT, validators=[
        _required(_l("Enter when it starts."))])
    ends_at = DateTimeLocalField(_l("Ends"), format=DATETIME_FORMAT, validators=[
        _required(_l("Enter when it ends."))])
    schools = SelectMultipleField(_l("Schools"), widget=ListWidget(prefix_label=False),
                                  option_widget=CheckboxInput(), validate_choice=False)


class RegistrationForm(receipts.ReceiptTokenMixin, FlaskForm):
    """A parent's registration for an event: no account, a phone number."""

    name = StringField(_l("Your name"), filters=[clean], validators=[
        _required(_l("Enter your name.")), Length(max=NAME_MAX)])
    phone = StringField(_l("Telephone"), filters=[clean], validators=[
        _required(_l("Enter a telephone number.")), MainlandPhone()])
    email = StringField(_l("E-mail (optional)"), filters=[clean],
                        validators=[Optional(), Length(max=EMAIL_MAX), Email()])
    child_class = StringField(_l("Your child's class"), filters=[clean], validators=[
        _required(_l("Enter your child's class, e.g. 三年级2班.")), Length(max=CLASS_MAX)])
    attendees = IntegerField(_l("Number of attendees"), default=1, validators=[
        _required(_l("Enter how many people will come.")),
        NumberRange(min=1, message=_l("At least one person."))])
    # A honeypot: hidden from people, filled in by some robots.
    website = StringField(_l("Leave this empty"), filters=[clean])

    def validate_phone(self, field: Any) -> None:
        field.data = compact_phone(field.data or "")  # stored as the SMS gateway wants it


class CancelEventForm(FlaskForm):
    """Why an event is cancelled: the parents read it."""

    reason = TextAreaField(_l("Reason, sent to everyone registered"), filters=[clean],
                           validators=[_required(_l("Say why the event is cancelled.")),
                                       Length(max=1000)])


class CodeForm(FlaskForm):
    """A receipt code typed or scanned at the door."""

    code = StringField(_l("Registration code"), filters=[clean], validators=[
        _required(_l("Enter the registration code."))],
        render_kw={"autocomplete": "off", "autocapitalize": "characters",
                   "spellcheck": "false"})


class TrackActionForm(FlaskForm):
    """What a parent does with their registration code: cancel, or give feedback."""

    code = HiddenField(filters=[clean])
    action = HiddenField(filters=[clean])
    satisfaction = RadioField(_l("How satisfied were you?"), choices=[
        SelectChoice("5", _l("5 – very satisfied")), SelectChoice("4", _l("4 – satisfied")),
        SelectChoice("3", _l("3 – neutral")), SelectChoice("2", _l("2 – dissatisfied")),
        SelectChoice("1", _l("1 – very dissatisfied"))], validators=[Optional()])
    comment = TextAreaField(_l("Comment (optional)"), filters=[clean],
                            validators=[Length(max=2000)])
