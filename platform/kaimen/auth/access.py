"""Permissions and the one decorator family that guards every view.

Every view carries exactly one access marker: ``public``, ``login_required``
or ``require(permission)``. A test walks ``app.url_map`` and fails on a view
with none or with two. Views check permissions, never role names.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import sqlalchemy as sa
from flask import abort, current_app, g, redirect, request, url_for
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from ..extensions import db
from ..idlists import among
from ..orgs import Organisation

F = TypeVar("F", bound=Callable[..., Any])
ACCESS_ATTRIBUTE = "kaimen_access"


@dataclass(frozen=True)
class Permission:
    """A named right, granted by default to some roles."""

    name: str
    label: Any
    roles: frozenset[str] = field(default_factory=frozenset)

    @classmethod
    def of(cls, name: str, label: Any, roles: Iterable[str]) -> Permission:
        return cls(name, label, frozenset(roles))


CORE_PERMISSIONS = [
    Permission.of(
        "school.manage", _l("Edit the school's profile"), ["school_admin", "bureau_admin"]
    ),
    Permission.of(
        "school.users", _l("Manage the school's staff"), ["school_admin", "bureau_admin"]
    ),
    # Bureau staff who audit or answer for the schools open a school's desk (and its staff
    # pages, through its navigation) from the umbrella view; unit staff do not.
    Permission.of(
        "school.desk",
        _l("Have a desk at the school"),
        ["school_admin", "teacher", "bureau_admin", "supervisor", "leader"],
    ),
    Permission.of(
        "bureau.view",
        _l("See the bureau's umbrella view"),
        ["bureau_admin", "supervisor", "leader", "unit_staff"],
    ),
    Permission.of(
        "bureau.users", _l("Manage users of the bureau and its schools"), ["bureau_admin"]
    ),
    Permission.of("bureau.manage", _l("Edit the bureau's profile"), ["bureau_admin"]),
    Permission.of("bureau.units", _l("Delete the bureau's departments and units"),
                  ["bureau_admin"]),
    Permission.of("bureau.plugins", _l("Enable features per school"), ["bureau_admin"]),
    Permission.of("audit.view", _l("Read the audit log"), ["bureau_admin", "supervisor"]),
    Permission.of(
        "audit.checkpoints", _l("Receive the signed checkpoints of the audit log"), ["supervisor"]
    ),
    Permission.of(
        "bureau.school_years", _l("Manage school years and terms"), ["bureau_admin"]
    ),
    Permission.of("classes.view", _l("See the school's classes"), ["school_admin", "bureau_admin"]),
    Permission.of("classes.manage", _l("Manage the school's classes"), ["school_admin"]),
]


def registry() -> dict[str, Permission]:
    """Return the permissions of the running app: the core's and every plugin's."""
    return current_app.extensions["kaimen"].permissions


def user_can(user: Any, permission: str, org: Organisation | None) -> bool:
    """Tell whether ``user`` holds ``permission`` on ``org``."""
    if org is None or not getattr(user, "is_authenticated", False):
        return False
    roles = registry()[permission].roles
    return bool(user.roles_on(org) & roles)


def schools_where(user: Any, permission: str, schools: Iterable[Organisation]) -> set[int]:
    """Return the ids of ``schools`` on which ``user`` holds ``permission``, as ``user_can``
    answers it, without a query per school: the user's grants are read once and each bureau
    above the schools is asked once."""
    if not getattr(user, "is_authenticated", False):
        return set()
    roles = registry()[permission].roles
    direct: dict[int, set[str]] = {}
    for grant in user.grants:
        direct.setdefault(grant.org_id, set()).add(grant.role)
    by_parent: dict[int | None, bool] = {}
    found = set()
    for school in schools:
        if school.parent_id not in by_parent:
            parent = school.parent
            by_parent[school.parent_id] = bool(parent and user.roles_on(parent) & roles)
        if by_parent[school.parent_id] or direct.get(school.id, set()) & roles:
            found.add(school.id)
    return found


def _mark(view: F, marker: object) -> F:
    # functools.wraps shares __dict__, so a second decorator appends to the same list
    markers = view.__dict__.setdefault(ACCESS_ATTRIBUTE, [])
    markers.append(marker)
    return view


def public(view: F) -> F:
    """Mark a view as open to everyone, parents and the public included."""
    return _mark(view, "public")


def login_required(view: F) -> F:
    """Let any logged-in user in; send everyone else to the login page."""

    @functools.wraps(view)
    def guarded(*args: Any, **kwargs: Any) -> Any:
        if not current_user.is_authenticated:
            return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))
        return view(*args, **kwargs)

    return _mark(guarded, "login")  # type: ignore[return-value]


def require(permission: str) -> Callable[[F], F]:
    """Let in users who hold ``permission`` on the organisation named by the URL."""

    def decorator(view: F) -> F:
        @functools.wraps(view)
        def guarded(*args: Any, **kwargs: Any) -> Any:
            org = g.get("org")
            if not current_user.is_authenticated:
                return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))
            if not user_can(current_user, permission, org):
                # Staff of the organisation learn they lack a right; strangers learn nothing.
                abort(403 if org is not None and current_user.roles_on(org) else 404)
            return view(*args, **kwargs)

        return _mark(guarded, ("permission", permission))  # type: ignore[return-value]

    return decorator


def access_markers(view: Callable[..., Any]) -> list[object]:
    """Return the access markers of a view, for the access test."""
    return list(getattr(view, ACCESS_ATTRIBUTE, []))


REACHES = ("all", "own", "above")


def _reach_ids(org: Organisation, reach: str) -> list[int]:
    if reach not in REACHES:
        raise ValueError(f"reach must be one of {REACHES}")
    above = [bureau.id for bureau in org.ancestors()]
    return {"all": [org.id, *above], "own": [org.id], "above": above}[reach]


def holders(permission: str, org: Organisation, *, reach: str = "all") -> list[Any]:
    """Return the active users who hold ``permission`` on ``org``, in username order.

    ``reach`` says whose grants count: ``"all"`` (on ``org`` and on the bureaus above
    it, as ``user_can`` sees it), ``"own"`` (on ``org`` itself: a school's own staff) or
    ``"above"`` (on the bureaus above it only). Use it instead of asking for role names.
    """
    from .models import RoleGrant, User

    roles = sorted(registry()[permission].roles)
    ids = _reach_ids(org, reach)
    if not ids or not roles:
        return []
    return list(
        db.session.scalars(
            sa.select(User)
            .where(
                User.active.is_(True),
                User.id.in_(
                    sa.select(RoleGrant.user_id).where(
                        among(RoleGrant.org_id, ids), RoleGrant.role.in_(roles)
                    )
                ),
            )
            .order_by(User.username)
        )
    )


def count_holders(permission: str, schools: Iterable[Organisation]) -> dict[int, int]:
    """Return ``{school id: active users holding permission on that school itself}``.

    One query, kept in the worker under the people's version (``pagecache.people_mark``):
    only users and role grants change the answer, and both bump it. The umbrella view asks
    for a thousand schools again after any school's write; the count was its slowest query.
    Do not change the dict returned: it is shared.
    """
    from .. import memo, pagecache
    from .models import RoleGrant, User

    roles = sorted(registry()[permission].roles)
    ids = tuple(sorted({school.id for school in schools}))

    def count() -> dict[int, int]:
        rows = db.session.execute(
            sa.select(RoleGrant.org_id, sa.func.count(sa.distinct(RoleGrant.user_id)))
            .join(User, User.id == RoleGrant.user_id)
            .where(among(RoleGrant.org_id, ids), RoleGrant.role.in_(roles),
                   User.active.is_(True))
            .group_by(RoleGrant.org_id)
        )
        return {org_id: number for org_id, number in rows}

    # The mark is read before the count: a grant committed in between leaves a newer
    # count under the older mark (counted again next time), never an older one under a newer.
    mark = pagecache.people_mark()
    if mark is None:  # people written and not yet committed: count, keep nothing
        return count()
    return memo.kept(("holders", tuple(roles), mark, ids), count,
                     current_app.config["FIGURES_SECONDS"])
