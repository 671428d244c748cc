"""The box's forms: the public form, staff entry, workflow steps, tracking, settings."""

from __future__ import annotations

import re
from datetime import date
from typing import Any

from flask_babel import format_decimal
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    DateField,
    FieldList,
    Form,
    FormField,
    HiddenField,
    IntegerField,
    MultipleFileField,
    RadioField,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import (
    DataRequired,
    InputRequired,
    Length,
    NumberRange,
    Optional,
    Regexp,
    ValidationError,
)

from kaimen import receipts
from kaimen.forms import Email, MainlandPhone

from .choices import CATEGORIES, FINDINGS, KINDS, REJECTION_REASONS, STAFF_CHANNELS
from .services import Submission

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
SUBJECT_MAX, DESCRIPTION_MAX = 120, 5000
REFERENCE_PATTERN = r"^[a-z][a-z0-9_-]{0,31}:[A-Za-z0-9_.-]{1,40}$"


def clean(value: Any) -> Any:
    """Strip surrounding space and control characters (a NUL breaks PostgreSQL text)."""
    if isinstance(value, str):
        return _CONTROL.sub("", value).strip()
    return value


def _choices(labels: dict[str, Any]) -> list[SelectChoice]:
    return [SelectChoice(value, label) for value, label in labels.items()]


def _required(message: Any) -> DataRequired:
    return DataRequired(message=message)


class TextLength:
    """Between ``least`` and ``most`` characters, checked on the server and said with the count.

    Unlike WTForms' ``Length`` it puts no ``maxlength`` on the field: a browser would cut
    a longer paste silently, and the writer would never know what was lost.
    """

    def __init__(self, most: int, least: int = 0) -> None:
        self.least, self.most = least, most

    def __call__(self, form: Any, field: Any) -> None:
        count = len(field.data or "")
        if count > self.most:
            raise ValidationError(_(
                "This is %(count)s characters long; the limit is %(max)s. "
                "Shorten it by %(over)s characters.", count=format_decimal(count),
                max=format_decimal(self.most), over=format_decimal(count - self.most)))
        if count < self.least:
            raise ValidationError(_("Write at least %(min)s characters.", min=self.least))


class ContactMixin:
    """Anonymous or named, and the contact of a named complainant."""

    identity = RadioField(
        _l("Who is sending this"),
        choices=_choices({"anonymous": _l("Anonymous: no name, no contact"),
                          "named": _l("With my name and a contact for the answer")}),
        default="anonymous",
        validators=[InputRequired(message=_l("Choose anonymous or named."))],
    )
    contact_name = StringField(_l("Your name"), filters=[clean], validators=[Length(max=80)])
    contact_phone = StringField(
        _l("Mobile or landline phone"), filters=[clean],
        validators=[Optional(), MainlandPhone()],
    )
    contact_email = StringField(
        _l("E-mail"), filters=[clean],
        validators=[Optional(), Length(max=200),
                    Email()],
    )

    def validate_contact_name(self, field: Any) -> None:
        if self.identity.data == "named" and not field.data:
            raise ValidationError(_l("Enter your name, or choose to send anonymously."))

    def typed_contact(self) -> bool:
        """Tell whether any contact detail was typed in."""
        return any((self.contact_name.data, self.contact_phone.data, self.contact_email.data))

    def validate(self, extra_validators: Any = None) -> bool:
        valid = super().validate(extra_validators)  # type: ignore[misc]
        if self.identity.data == "anonymous" and self.typed_contact():
            # Never drop what was typed: ask which the complainant meant.
            self.identity.errors = list(self.identity.errors) + [_l(
                "You chose to send anonymously but typed contact details. Choose \"with my "
                "name\" to send them, or clear them to stay anonymous.")]
            return False
        if self.identity.data == "named" and not self.contact_phone.data \
                and not self.contact_email.data and not self.contact_phone.errors:
            self.contact_phone.errors = [
                _l("Enter a phone number or an e-mail address for the answer.")]
            return False
        return valid


class OpinionFields:
    """What an opinion says."""

    kind = RadioField(_l("What are you sending"), choices=_choices(KINDS), default="complaint",
                      validators=[InputRequired(message=_l("Choose what you are sending."))])
    category = SelectField(
        _l("Area"), choices=_choices({"": _l("Choose an area")} | CATEGORIES),
        validators=[_required(_l("Choose the area it concerns."))],
    )
    subject = StringField(
        _l("Subject"), filters=[clean],
        validators=[_required(_l("Give it a short subject.")), TextLength(most=SUBJECT_MAX)],
    )
    description = TextAreaField(
        _l("What happened, or what you suggest"), filters=[clean],
        validators=[_required(_l("Describe the matter.")),
                    TextLength(least=10, most=DESCRIPTION_MAX)],
        render_kw={"data-limit": DESCRIPTION_MAX},  # complaints.js counts as one types
    )
    about_leadership = BooleanField(
        _l("This is about the school's leadership: send it to the education bureau only"))
    attachments = MultipleFileField(_l("Photos or documents (optional)"))


class OpinionForm(OpinionFields, ContactMixin, receipts.ReceiptTokenMixin, FlaskForm):
    """The public form of a school's box: sent twice, it files once (the receipt token)."""

    reference = HiddenField(filters=[clean], validators=[Optional(), Regexp(REFERENCE_PATTERN)])
    # A honeypot: hidden from people, filled in by some robots.
    website = StringField(_l("Leave this empty"), filters=[clean])


class StaffEntryForm(OpinionFields, ContactMixin, FlaskForm):
    """An opinion received on paper, by phone, in person: copied in by staff."""

    channel = SelectField(_l("Received by"), choices=_choices(STAFF_CHANNELS),
                          validators=[_required(_l("Choose the channel."))])
    received_on = DateField(_l("Received on"),
                            validators=[InputRequired(message=_l("Enter a date."))])


def submission_from(form: OpinionForm | StaffEntryForm, channel: str = "online",
                    received_on: date | None = None) -> Submission:
    """Turn a filled opinion form into a ``Submission``."""
    named = form.identity.data == "named"
    reference = form.reference.data if isinstance(form, OpinionForm) else None
    return Submission(
        kind=form.kind.data, category=form.category.data, subject=form.subject.data,
        description=form.description.data, channel=channel, anonymous=not named,
        contact_name=form.contact_name.data or None if named else None,
        contact_phone=form.contact_phone.data or None if named else None,
        contact_email=form.contact_email.data or None if named else None,
        about_leadership=bool(form.about_leadership.data),
        reference=reference or None, received_on=received_on,
    )


class BatchRow(Form):
    """One paper form in a pile."""

    kind = SelectField(_l("Kind"), choices=_choices(KINDS), default="complaint")
    category = SelectField(_l("Area"), choices=_choices(CATEGORIES), default="other")
    subject = StringField(_l("Subject"), filters=[clean], validators=[TextLength(most=SUBJECT_MAX)])
    text = TextAreaField(_l("Content"), filters=[clean],
                         validators=[TextLength(most=DESCRIPTION_MAX)])


class BatchForm(FlaskForm):
    """A pile of paper forms from one channel and day."""

    channel = SelectField(_l("Received by"), choices=_choices(STAFF_CHANNELS), default="paper_box")
    received_on = DateField(_l("Received on"),
                            validators=[InputRequired(message=_l("Enter a date."))])
    rows = FieldList(FormField(BatchRow), min_entries=8, max_entries=8)


class AcceptForm(FlaskForm):
    owner = SelectField(_l("Person in charge"), coerce=int,
                        validators=[InputRequired(message=_l("Choose who is in charge.")),
                                    NumberRange(min=1, message=_l("Choose who is in charge."))])
    note = TextAreaField(_l("Message to the complainant (optional)"), filters=[clean],
                         validators=[Length(max=2000)])


class RejectForm(FlaskForm):
    reason = SelectField(_l("Reason"), choices=_choices(REJECTION_REASONS),
                         validators=[_required(_l("Choose a reason."))])
    explanation = TextAreaField(
        _l("Explanation the complainant will read"), filters=[clean],
        validators=[_required(_l("Explain the decision.")), Length(max=2000)])


class FindingsForm(FlaskForm):
    finding = SelectField(_l("Finding"), choices=_choices({"": "—"} | FINDINGS),
                          validators=[_required(_l("Choose the finding."))])
    verified_facts = TextAreaField(_l("Verified facts"), filters=[clean],
                                   validators=[_required(_l("Write the verified facts.")),
                                               Length(max=5000)])
    action_taken = TextAreaField(_l("Action taken"), filters=[clean],
                                 validators=[_required(_l("Write the action taken.")),
                                             Length(max=5000)])
    correction = TextAreaField(_l("Correction or discipline"), filters=[clean],
                               validators=[Length(max=5000)])

    def validate_correction(self, field: Any) -> None:
        if self.finding.data in ("substantiated", "partly") and not field.data:
            raise ValidationError(
                _l("Record the correction or discipline of a substantiated case."))


class AnswerForm(FlaskForm):
    answer = TextAreaField(_l("Answer to the complainant"), filters=[clean],
                           validators=[_required(_l("Write the answer.")), Length(max=5000)])


class NoteForm(FlaskForm):
    text = TextAreaField(_l("Internal note"), filters=[clean],
                         validators=[_required(_l("Write the note.")), Length(max=2000)])


class UrgeForm(FlaskForm):
    note = TextAreaField(_l("Instruction"), filters=[clean],
                         validators=[_required(_l("Write what must be done.")), Length(max=2000)])
    new_due = DateField(_l("New deadline"), validators=[InputRequired(message=_l("Enter a date."))])


class InstructionForm(FlaskForm):
    instruction = TextAreaField(
        _l("Instruction"), filters=[clean],
        validators=[_required(_l("Write the instruction.")), Length(max=2000)])


class TakeOverForm(FlaskForm):
    confirm = BooleanField(
        _l("Yes: the bureau takes this case over from the school, with me in charge"),
        validators=[DataRequired(message=_l("Tick the box to confirm the take-over."))])


class RewardPaymentForm(FlaskForm):
    amount = StringField(_l("Amount"), filters=[clean],
                         validators=[_required(_l("Enter the amount.")), Length(max=40)])
    paid_on = DateField(_l("Paid on"), validators=[InputRequired(message=_l("Enter a date."))])


class TemplateForm(FlaskForm):
    title = StringField(_l("Title"), filters=[clean],
                        validators=[_required(_l("Enter a title.")), Length(max=120)])
    body = TextAreaField(_l("Wording"), filters=[clean],
                         validators=[_required(_l("Enter the wording.")), Length(max=5000)])


class TrackCodeMixin:
    code = HiddenField(filters=[clean], validators=[DataRequired(), Length(max=40)])


class ProofForm(TrackCodeMixin, FlaskForm):
    """The receipt code, posted to download the proof of filing (never put in a URL)."""


class InformationForm(TrackCodeMixin, FlaskForm):
    text = TextAreaField(_l("Add information"), filters=[clean],
                         validators=[_required(_l("Write what you want to add.")),
                                     Length(max=3000)])


class FeedbackForm(TrackCodeMixin, FlaskForm):
    verdict = RadioField(_l("Are you satisfied with the answer?"),
                         choices=_choices({"yes": _l("Satisfied"), "no": _l("Not satisfied")}),
                         validators=[InputRequired(message=_l("Choose satisfied or not."))])
    comment = TextAreaField(_l("Comment (optional)"), filters=[clean],
                            validators=[Length(max=2000)])


class SettingsForm(FlaskForm):
    acknowledge_days = IntegerField(
        _l("Working days to acknowledge"),
        validators=[InputRequired(message=_l("Enter a number.")),
                    NumberRange(min=1, max=30, message=_l("Between 1 and 30."))])
    answer_days = IntegerField(
        _l("Working days to answer"),
        validators=[InputRequired(message=_l("Enter a number.")),
                    NumberRange(min=1, max=120, message=_l("Between 1 and 120."))])


class HolidayForm(FlaskForm):
    day = DateField(_l("Date"), validators=[InputRequired(message=_l("Enter a date."))])
    name = StringField(_l("Name"), filters=[clean], validators=[Length(max=80)])
    working = BooleanField(_l("A weekend day worked in exchange"))
