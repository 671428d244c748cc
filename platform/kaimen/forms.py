"""Form validators every plugin shares: telephone numbers, e-mail addresses, school years.

Use them in WTForms field lists, for example
``StringField(_l("Mobile phone"), validators=[Optional(), MainlandPhone()])``; each
carries its translated message, so the same mistake reads the same everywhere.

``MainlandPhone`` is for numbers that parents and the public give (the complaint box,
open-day registrations): a mainland mobile (``13800138000``, also written with spaces or
hyphens, or after ``+86``) or a landline with its area code (``0715-1234567``).
``Phone`` is looser, for an organisation's own numbers (hotlines, short numbers).
"""

from __future__ import annotations

import re
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


# 11-digit mobile numbers start 13–19, after an optional +86 / 0086 / 86 country prefix.
MOBILE = re.compile(r"^(?:\+?86|0086)?1[3-9]\d{9}$")
# A landline: area code 0xx or 0xxx, 7 or 8 digits, optionally an extension.
LANDLINE = re.compile(r"^0\d{2,3}-?\d{7,8}(?:-\d{1,6})?$")


def compact_phone(value: str) -> str:
    """Return a number without spaces and brackets, and a mobile without its hyphens."""
    cleaned = re.sub(r"[\s()（）]", "", value or "")
    digits = cleaned.replace("-", "")
    return digits if MOBILE.match(digits) else cleaned


def is_mobile_phone(value: str) -> bool:
    """Tell whether ``value`` is a mainland mobile number (one that receives text messages)."""
    return MOBILE.match(compact_phone(value)) is not None


def is_mainland_phone(value: str) -> bool:
    """Tell whether ``value`` is a mainland mobile, or a landline with its area code."""
    number = compact_phone(value)
    return MOBILE.match(number) is not None or LANDLINE.match(number) is not None


class MainlandPhone:
    """A mainland China mobile or landline number (see ``is_mainland_phone``)."""

    def __init__(self, message: Any = None) -> None:
        self.message = message or _l(
            "Enter a mobile number of 11 digits, such as 13800138000, or a landline with its "
            "area code, such as 0715-1234567.")

    def __call__(self, form: Any, field: Any) -> None:
        if field.data and not is_mainland_phone(str(field.data)):
            raise ValidationError(self.message)


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
