"""Forms of the pledge board: a pledge, its status, a progress update, a signature."""

from __future__ import annotations

from typing import Any

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import SelectField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, Optional

from kaimen.forms import SchoolYear

from .models import ANSWERABLE_MAX, ETHICS, REASON_MAX, SERVICE, TEXT_MAX, TITLE_MAX, UPDATE_MAX


def _too_long(limit: int) -> Any:
    return Length(max=limit, message=_l("Write at most %(max)d characters.", max=limit))


class PledgeForm(FlaskForm):
    """What is promised, who answers for it, and for which school year."""

    title = StringField(
        _l("Title"),
        validators=[DataRequired(message=_l("Give the pledge a title.")), _too_long(TITLE_MAX)],
    )
    text = TextAreaField(
        _l("Text of the pledge"),
        validators=[DataRequired(message=_l("Write what you pledge.")), _too_long(TEXT_MAX)],
    )
    answerable = StringField(
        _l("Who answers for it"),
        validators=[
            DataRequired(message=_l("Name the role or person who answers for this pledge.")),
            _too_long(ANSWERABLE_MAX),
        ],
    )
    school_year = StringField(
        _l("School year"),
        validators=[DataRequired(message=_l("Give the school year.")), SchoolYear()],
    )


class SchoolPledgeForm(PledgeForm):
    """A school's pledge: a service pledge or a teacher ethics pledge."""

    kind = SelectField(
        _l("Kind"),
        choices=[SelectChoice(SERVICE, _l("Service pledge")),
                 SelectChoice(ETHICS, _l("Teacher ethics pledge"))],
        default=SERVICE,
    )


class BureauPledgeForm(PledgeForm):
    """A pledge of the bureau or of one of its departments."""

    unit = SelectField(_l("Department or unit"), choices=[], validators=[Optional()])


class StatusForm(FlaskForm):
    """Mark a pledge fulfilled, or withdraw it with a public reason."""

    status = SelectField(
        _l("New status"),
        choices=[SelectChoice("fulfilled", _l("Fulfilled")),
                 SelectChoice("withdrawn", _l("Withdrawn"))],
    )
    reason = TextAreaField(
        _l("Public reason (required to withdraw)"), validators=[_too_long(REASON_MAX)]
    )


class UpdateForm(FlaskForm):
    """A dated public note on how the pledge is being kept."""

    text = TextAreaField(
        _l("Progress update"),
        validators=[DataRequired(message=_l("Write the progress update.")), _too_long(UPDATE_MAX)],
    )


class SignForm(FlaskForm):
    """A teacher's own signature: nothing to fill in but the CSRF token."""
