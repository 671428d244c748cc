"""The password policy: one check for every place a password is set.

The list of common passwords ships in the package (``common-passwords.txt``, the most
common 10,000, lower-cased; see ``common-passwords.NOTICE``) and is read once.
"""

from __future__ import annotations

import functools
from importlib import resources

from flask_babel import gettext as _

MIN_PASSWORD = 10
# Sequences people type as passwords: digits (0 also after 9, as on a keyboard),
# the alphabet and the keyboard's letter rows.
SEQUENCES = ("01234567890", "abcdefghijklmnopqrstuvwxyz", "qwertyuiop", "asdfghjkl", "zxcvbnm")
SHORTEST_RUN = 4
LONGEST_REPEATED_GROUP = 4


@functools.cache
def common_passwords() -> frozenset[str]:
    """Return the shipped list of common passwords, lower-cased."""
    text = resources.files(__package__).joinpath("common-passwords.txt").read_text("utf-8")
    return frozenset(line.strip().lower() for line in text.splitlines() if line.strip())


def check(password: str, username: str = "") -> list[str]:
    """Return the translated problems of ``password`` for ``username``; empty when it is fine."""
    lowered, name = password.lower(), username.strip().lower()
    problems = []
    if len(password) < MIN_PASSWORD:
        problems.append(
            _("The password must have at least %(num)d characters.", num=MIN_PASSWORD)
        )
    if name and name in lowered:
        problems.append(_("The password must not contain the username."))
    if _is_repetition(lowered):
        problems.append(
            _("The password must not repeat one character or a short group of characters.")
        )
    elif _longest_run(lowered) >= max(SHORTEST_RUN, (len(lowered) + 1) // 2):
        problems.append(
            _("The password must not be mostly a sequence such as 1234567890 or abcdefgh.")
        )
    if lowered in common_passwords():
        problems.append(_("This is one of the most common passwords: choose another."))
    return problems


def _is_repetition(text: str) -> bool:
    """Tell whether ``text`` is one short group of characters said again and again."""
    return any(
        len(text) >= 2 * size and text == (text[:size] * len(text))[: len(text)]
        for size in range(1, LONGEST_REPEATED_GROUP + 1)
    )


def _longest_run(text: str) -> int:
    """Return the length of the longest stretch of ``text`` that follows a sequence either way."""
    longest = current = min(len(text), 1)
    for end in range(2, len(text) + 1):
        if not _in_sequence(text[end - 2 : end]):
            current = 1
        elif current >= 2 and _in_sequence(text[end - 3 : end]):
            current += 1
        else:
            current = 2
        longest = max(longest, current)
    return longest


def _in_sequence(chunk: str) -> bool:
    return any(chunk in sequence or chunk in sequence[::-1] for sequence in SEQUENCES)
