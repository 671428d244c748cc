"""Forms for logging in, the account page and creating users."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import EmailField, HiddenField, PasswordField, SelectField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, EqualTo, Length, Optional, Regexp

from ..forms import Email

MIN_PASSWORD = 10


class LoginForm(FlaskForm):
    username = StringField(
        _l("Username"),
        validators=[DataRequired(message=_l("Enter your username.")), Length(max=64)],
    )
    password = PasswordField(
        _l("Password"),
        validators=[DataRequired(message=_l("Enter your password.")), Length(max=256)],
    )
    next = HiddenField()


class PasswordForm(FlaskForm):
    current = PasswordField(
        _l("Current password"),
        validators=[DataRequired(message=_l("Enter your current password."))],
    )
    new = PasswordField(
        _l("New password"),
        validators=[
            DataRequired(message=_l("Enter a new password.")),
            Length(
                min=MIN_PASSWORD,
                max=256,
                message=_l("The password must have at least %(num)d characters.", num=MIN_PASSWORD),
            ),
        ],
    )
    confirm = PasswordField(
        _l("Repeat the new password"),
        validators=[EqualTo("new", message=_l("The two passwords differ."))],
    )


class PreferencesForm(FlaskForm):
    locale = SelectField(
        _l("Language"),
        choices=[
            SelectChoice("", _l("As the browser says")),
            SelectChoice("zh_Hans", "中文"),
            SelectChoice("en", "English"),
        ],
    )


class NewUserForm(FlaskForm):
    username = StringField(
        _l("Username"),
        validators=[
            DataRequired(message=_l("Enter a username.")),
            Length(min=3, max=64, message=_l("A username has 3 to 64 characters.")),
            Regexp(
                r"^[A-Za-z0-9._-]+$",
                message=_l("Use only letters, digits, dots, dashes and underscores."),
            ),
        ],
    )
    display_name = StringField(
        _l("Full name"),
        validators=[DataRequired(message=_l("Enter the person's name.")), Length(max=120)],
    )
    email = EmailField(
        _l("E-mail"),
        validators=[
            Optional(),
            Email(),
            Length(max=200),
        ],
    )
    role = SelectField(_l("Role"), choices=[])
    org = SelectField(_l("School or bureau"), choices=[])
    unit = SelectField(_l("Unit"), choices=[], validate_choice=False)
    password = PasswordField(
        _l("Initial password"),
        validators=[
            DataRequired(message=_l("Enter an initial password.")),
            Length(
                min=MIN_PASSWORD,
                max=256,
                message=_l("The password must have at least %(num)d characters.", num=MIN_PASSWORD),
            ),
        ],
    )
