"""Mainland China telephone numbers: mobile (SMS reaches them) and landline."""

from __future__ import annotations

import re

# 11-digit mobile numbers start 13–19; an optional +86 / 0086 / 86 country prefix.
MOBILE = re.compile(r"^(?:\+?86|0086)?1[3-9]\d{9}$")
# Landline: area code 0xx or 0xxx, 7 or 8 digits, optionally an extension.
LANDLINE = re.compile(r"^0\d{2,3}-?\d{7,8}(?:-\d{1,6})?$")


def compact(phone: str) -> str:
    """Return ``phone`` without spaces, brackets and the dashes inside a mobile number."""
    cleaned = re.sub(r"[\s()（）]", "", phone or "")
    digits = cleaned.replace("-", "")
    return digits if MOBILE.match(digits) else cleaned


def is_mobile(phone: str) -> bool:
    """Tell whether ``phone`` is a mainland mobile number (one that receives SMS)."""
    return MOBILE.match(compact(phone)) is not None


def is_valid(phone: str) -> bool:
    """Tell whether ``phone`` is a mainland mobile or landline number."""
    number = compact(phone)
    return MOBILE.match(number) is not None or LANDLINE.match(number) is not None
