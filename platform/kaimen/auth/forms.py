"""Forms for logging in, the account page and creating users."""

from __future__ import annotations

from typing import Any

from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import EmailField, HiddenField, PasswordField, SelectField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, EqualTo, Length, Optional, Regexp, ValidationError

from ..forms import Email
from . import passwords
from .passwords import MIN_PASSWORD as MIN_PASSWORD  # the users page shows it

LONGEST_PASSWORD_MESSAGE = _l("The password may have at most %(num)d characters.", num=256)


class PasswordPolicy:
    """Refuse a password that ``passwords.check`` finds weak for the account's username."""

    def __init__(self, username_field: str | None = None) -> None:
        # None: the password is the logged-in user's own
        self.username_field = username_field

    def __call__(self, form: Any, field: Any) -> None:
        if self.username_field is None:
            username = current_user.username
        else:
            username = form[self.username_field].data or ""
        problems = passwords.check(field.data or "", username)
        if problems:
            raise ValidationError(" ".join(problems))


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
            Length(max=256, message=LONGEST_PASSWORD_MESSAGE),
            PasswordPolicy(),
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
            Length(max=256, message=LONGEST_PASSWORD_MESSAGE),
            # the password policy is the user service's (one for this page and the CLI)
        ],
    )
