"""The plans' pages, each thin: load, check the permission, act through the services.

``public``: a school's rectification window. ``staff``: a school's admins draft the
plan, report progress, update the ledger from a file. ``bureau``: supervisors review
plans, urge and sign off items (on the school's URLs), open campaigns and read the
county's ledger and summary.

The bureau keeps a plan of its own in each campaign, owned by the bureau as a school's
is by the school. The pages of a plan are ``shared``: the same view answers on a
school's URLs (``/s/<school>/plans/…``) and on the bureau's (``/b/<bureau>/plans/own/…``),
for the organisation in the URL, which is the owner.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from flask import abort, flash, g, render_template
from wtforms import Field

from kaimen import Organisation, db, require
from kaimen import public as open_to_all  # ``public`` is the name of a module here

from ..blueprint import bureau_blueprint, school_blueprint
from ..forms import ConfirmForm, ReopenForm, UrgeForm
from ..models import CATEGORIES, FIELD_LABELS, ITEM_STATUSES, PLAN_STATUSES, STAGE_LABELS
from ..services import PlanError, manage_permission

T = TypeVar("T")
M = TypeVar("M")
F = TypeVar("F", bound=Callable[..., Any])

MANAGE = "manage"  # the owner's right to draft its plan: a school's admins, the bureau's admins
OWN_PREFIX = "/own"  # where the bureau's own plan lives under /b/<bureau>/plans


def owner() -> Organisation:
    """Return the organisation in the URL: the school, or the bureau for its own plan."""
    return g.org  # type: ignore[no-any-return]


def owned(model: type[M], object_id: int) -> M:
    """Load a row of the URL's organisation's plans, 404 for anyone else's.

    The scope already hides other schools' rows; on a bureau's pages its schools' rows
    are in scope for its staff, and this keeps them off the bureau's own-plan pages.
    """
    row = db.get_or_404(model, object_id)
    if row.school_id != owner().id:  # type: ignore[attr-defined]
        abort(404)
    return row


def _guarded(view: F, permission: str | None, kind: str) -> F:
    @functools.wraps(view)
    def bound(*args: Any, **kwargs: Any) -> Any:
        return view(*args, **kwargs)

    if permission is None:
        return open_to_all(bound)  # type: ignore[return-value]
    name = manage_permission(kind) if permission == MANAGE else permission
    return require(name)(bound)  # type: ignore[return-value]


def shared(rule: str, permission: str | None, *, methods: Iterable[str] = ("GET",),
           bureau_rule: str | None = None) -> Callable[[F], F]:
    """Register a view of a plan on a school's URLs and on the bureau's own-plan URLs.

    ``permission`` is checked on the URL's organisation; ``MANAGE`` stands for the owner's
    right to draft (``plans.manage`` on a school, ``plans.own`` on a bureau); None is public.
    """

    def decorator(view: F) -> F:
        bureau_path = bureau_rule or OWN_PREFIX + rule
        for blueprint, kind, path in ((school_blueprint, "school", rule),
                                      (bureau_blueprint, "bureau", bureau_path)):
            blueprint.add_url_rule(path, view.__name__, _guarded(view, permission, kind),
                                   methods=list(methods))
        return view

    return decorator


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
    """Render a template of the plans with their vocabularies at hand.

    ``school`` is the plan's owner: the URL's school, or the bureau on its own-plan pages.
    """
    return render_template(template, categories=CATEGORIES, item_statuses=ITEM_STATUSES,
                           plan_statuses=PLAN_STATUSES, stage_labels=STAGE_LABELS,
                           field_labels=FIELD_LABELS,
                           school=context.pop("school", g.get("school") or g.get("org")),
                           **context)


def review_forms(forms: dict[str, Any]) -> dict[str, Any]:
    """Return the supervisor's forms of a ledger item: urge, sign off, reopen."""
    return {
        "urge_form": forms.get("urge_form") or UrgeForm(formdata=None),
        "signoff_form": forms.get("signoff_form") or ConfirmForm(formdata=None),
        "reopen_form": forms.get("reopen_form") or ReopenForm(formdata=None),
    }
