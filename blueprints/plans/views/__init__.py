"""The plans' pages, each thin: load, check the permission, act through the services.

``public``: a school's rectification window. ``staff``: a school's admins draft the
plan, report progress, update the ledger from a file. ``bureau``: supervisors review
plans, urge and sign off items (on the school's URLs), open campaigns and read the
county's ledger and summary.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from flask import flash, g, render_template
from wtforms import Field

from kaimen import db

from ..forms import ConfirmForm, ReopenForm, UrgeForm
from ..models import CATEGORIES, FIELD_LABELS, ITEM_STATUSES, PLAN_STATUSES, STAGE_LABELS
from ..services import PlanError

T = TypeVar("T")


def attempt(action: Callable[[], T], field: Field | None = None) -> T | None:
    """Run one service call as the request's transaction; return its result, None if refused.

    A refusal rolls everything back and is shown under ``field``, or flashed.
    """
    try:
        result = action()
    except PlanError as error:
        db.session.rollback()
        if field is None:
            flash(str(error), "error")
        else:
            field.errors = [str(error)]
        return None
    db.session.commit()
    return result


def render(template: str, **context: Any) -> str:
    """Render a template of the plans with their vocabularies at hand."""
    return render_template(template, categories=CATEGORIES, item_statuses=ITEM_STATUSES,
                           plan_statuses=PLAN_STATUSES, stage_labels=STAGE_LABELS,
                           field_labels=FIELD_LABELS,
                           school=context.pop("school", g.get("school")), **context)


def review_forms(forms: dict[str, Any]) -> dict[str, Any]:
    """Return the supervisor's forms of a ledger item: urge, sign off, reopen."""
    return {
        "urge_form": forms.get("urge_form") or UrgeForm(formdata=None),
        "signoff_form": forms.get("signoff_form") or ConfirmForm(formdata=None),
        "reopen_form": forms.get("reopen_form") or ReopenForm(formdata=None),
    }
