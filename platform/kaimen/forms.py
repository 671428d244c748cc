"""Form validators every plugin shares: telephone numbers, e-mail addresses, school years.

Use them in WTForms field lists, for example
``StringField(_l("Mobile phone"), validators=[Optional(), Phone()])``; each
carries its translated message, so the same mistake reads the same everywhere.
"""

from __future__ import annotations

from typing import Any

from flask_babel import lazy_gettext as _l
from wtforms import ValidationError
from wtforms.validators import Regexp

PHONE_PATTERN = r"^[0-9+() -]{3,40}$"
EMAIL_PATTERN = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"


class Phone(Regexp):
    """A telephone number: digits, spaces, ``+``, ``-`` and brackets."""

    def __init__(self, message: Any = None) -> None:
        super().__init__(
            PHONE_PATTERN,
            message=message or _l("Enter a telephone number: digits, spaces, + and -."),
        )


class Email(Regexp):
    """An e-mail address (shape only; delivery proves the rest)."""

    def __init__(self, message: Any = None) -> None:
        super().__init__(EMAIL_PATTERN, message=message or _l("Enter a valid e-mail address."))


def is_school_year(value: str) -> bool:
    """Tell whether ``value`` reads like ``2026-2027``."""
    head, sep, tail = value.partition("-")
    return (
        sep == "-"
        and len(head) == 4
        and len(tail) == 4
        and head.isdigit()
        and tail.isdigit()
        and int(tail) == int(head) + 1
    )


class SchoolYear:
    """A school year written as two consecutive years, ``2026-2027``."""

    def __call__(self, form: Any, field: Any) -> None:
        if field.data and not is_school_year(field.data.strip()):
            raise ValidationError(
                _l("Write the school year as two consecutive years, e.g. 2026-2027.")
            )
