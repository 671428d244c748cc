"""Forms of the liaison pages; the assignment grid is read from checkbox names instead."""

from __future__ import annotations

from typing import Any

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, DateField, StringField, TextAreaField
from wtforms.validators import InputRequired, Length, Optional

FOLLOW_UP_LINES = 3


class ActionForm(FlaskForm):
    """A button that changes something: CSRF only (save the grid, copy last year)."""


class VisitForm(FlaskForm):
    """A liaison visit: when, why, whom the visitor met, what they found, what follows."""

    visited_on = DateField(
        _l("Date of the visit"),
        validators=[InputRequired(message=_l("Enter the date of the visit."))],
    )
    hear = BooleanField(_l("Hear opinions"))
    inspect = BooleanField(_l("Inspect"))
    guide = BooleanField(_l("Guide"))
    met = StringField(
        _l("Whom you met"),
        validators=[InputRequired(message=_l("Say whom you met.")), Length(max=300)],
    )
    findings = TextAreaField(_l("What you found"), validators=[Optional(), Length(max=5000)])
    action1 = StringField(_l("Follow-up 1"), validators=[Optional(), Length(max=300)])
    due1 = DateField(_l("Due date of follow-up 1"), validators=[Optional()])
    action2 = StringField(_l("Follow-up 2"), validators=[Optional(), Length(max=300)])
    due2 = DateField(_l("Due date of follow-up 2"), validators=[Optional()])
    action3 = StringField(_l("Follow-up 3"), validators=[Optional(), Length(max=300)])
    due3 = DateField(_l("Due date of follow-up 3"), validators=[Optional()])

    def validate(self, extra_validators: Any = None) -> bool:
        ok = super().validate(extra_validators)
        for number in range(1, FOLLOW_UP_LINES + 1):
            action, due = getattr(self, f"action{number}"), getattr(self, f"due{number}")
            if (action.data or "").strip() and due.data is None:
                due.errors = [*due.errors, _l("Give the follow-up a due date.")]
                ok = False
            elif due.data is not None and not (action.data or "").strip():
                action.errors = [*action.errors, _l("Say what is to be done by that date.")]
                ok = False
        return ok
