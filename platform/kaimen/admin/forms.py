"""Forms of the administration pages."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import StringField
from wtforms.validators import DataRequired, Length, Optional

from ..forms import Email, Phone


class ProfileForm(FlaskForm):
    name = StringField(
        _l("Name in Chinese"),
        validators=[DataRequired(message=_l("Enter the name.")), Length(max=200)],
    )
    name_en = StringField(_l("Name in English"), validators=[Optional(), Length(max=200)])
    address = StringField(_l("Address"), validators=[Optional(), Length(max=300)])
    phone = StringField(_l("Telephone"), validators=[Optional(), Phone()])
    hotline = StringField(_l("Hotline for opinions"), validators=[Optional(), Phone()])
    email = StringField(_l("E-mail"), validators=[Optional(), Email(), Length(max=200)])


class ConfirmForm(FlaskForm):
    """A button that changes something: the CSRF token only."""
