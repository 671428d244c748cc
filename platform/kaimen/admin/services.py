"""Rules for creating and disabling users: who may grant which role where."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from flask_babel import gettext as _
from flask_babel import ngettext

from .. import audit, orgs, plugins
from ..auth import passwords
from ..auth.access import user_can
from ..auth.models import RoleGrant, User, find_user
from ..auth.roles import BUREAU_ROLES, ROLES, SCHOOL_ROLES
from ..extensions import db
from ..i18n import name_list


class UserError(ValueError):
    """A user change that the rules refuse, with a message for one field of the form."""

    def __init__(self, message: str, field: str = "username") -> None:
        super().__init__(message)
        self.field = field


def grantable(actor: Any, org: orgs.Organisation) -> list[tuple[str, orgs.Organisation]]:
    """Return the (role, organisation) pairs ``actor`` may grant from ``org``'s admin page."""
    if org.is_bureau and user_can(actor, "bureau.users", org):
        pairs = [(role, org) for role in BUREAU_ROLES]
        for school in orgs.schools_under(org):
            pairs += [(role, school) for role in SCHOOL_ROLES]
        return pairs
    if org.is_school and user_can(actor, "bureau.users", org.bureau()):
        return [(role, org) for role in SCHOOL_ROLES]
    if org.is_school and user_can(actor, "school.users", org):
        return [("teacher", org)]
    return []


def users_of(org: orgs.Organisation) -> list[User]:
    """Return the users holding a grant on ``org`` (and, for a bureau, on its schools)."""
    ids = [org.id] + ([s.id for s in orgs.schools_under(org)] if org.is_bureau else [])
    return list(
        db.session.scalars(
            sa.select(User)
            .where(User.id.in_(sa.select(RoleGrant.user_id).where(RoleGrant.org_id.in_(ids))))
            .order_by(User.username)
        )
    )


@dataclass(frozen=True)
class NewUser:
    """What it takes to create an account: the person and their one grant."""

    username: str
    display_name: str
    email: str | None
    password: str
    role: str
    org: orgs.Organisation
    unit_id: int | None = None


def create_user(actor: Any, admin_org: orgs.Organisation, new: NewUser) -> User:
    """Create a user with one grant, if ``actor`` may grant it from ``admin_org``; audited."""
    if (new.role, new.org) not in grantable(actor, admin_org):
        raise UserError(_("You cannot give that role there."), field="role")
    return add_user(new, actor=actor)


def add_user(new: NewUser, actor: Any = None) -> User:
    """Create a user with one grant under the one password policy; audited.

    The admin pages (through ``create_user``, which checks who may grant what) and
    ``flask kaimen users create`` both come here. Raises ``UserError`` naming the field.
    """
    username, role, org, unit_id = new.username.strip().lower(), new.role, new.org, new.unit_id
    if role not in ROLES or (role in SCHOOL_ROLES) != org.is_school:
        raise UserError(_("You cannot give that role there."), field="role")
    if find_user(username) is not None:
        raise UserError(_("That username is taken."))
    problems = passwords.check(new.password, username)
    if problems:
        raise UserError(" ".join(problems), field="password")
    if role == "unit_staff":
        unit = db.session.get(orgs.Unit, unit_id) if unit_id is not None else None
        if unit is None or unit.bureau_id != org.id:
            raise UserError(_("Choose the unit this person works in."), field="unit")
    else:
        unit_id = None
    user = User(
        username=username,
        display_name=new.display_name.strip(),
        email=(new.email or "").strip() or None,
    )
    user.set_password(new.password)
    user.grants.append(RoleGrant(org_id=org.id, role=role, unit_id=unit_id))
    db.session.add(user)
    audit.record(
        "user.created",
        user,
        actor=actor,
        school=org if org.is_school else None,
        bureau=org.bureau(),
        data={"role": role, "org": org.slug},
    )
    return user


def can_toggle(actor: Any, admin_org: orgs.Organisation, user: User) -> bool:
    """Tell whether ``actor`` may disable or enable ``user`` from ``admin_org``'s page."""
    if user.id == actor.id or not user.grants:
        return False
    allowed = set(grantable(actor, admin_org))
    return all((grant.role, grant.org) in allowed for grant in user.grants)


def set_active(actor: Any, admin_org: orgs.Organisation, user: User, active: bool) -> None:
    """Disable or enable ``user``; disabling ends every live session. Audited."""
    if not can_toggle(actor, admin_org, user):
        raise UserError(_("You cannot change that account."))
    user.active = active
    if not active:
        user.session_version += 1
    audit.record(
        "user.enabled" if active else "user.disabled",
        user,
        school=admin_org if admin_org.is_school else None,
        bureau=admin_org.bureau(),
    )


class UnitInUse(ValueError):
    """A unit that cannot be deleted, with every reason (translated sentences)."""

    def __init__(self, reasons: list[str]) -> None:
        super().__init__(" ".join(reasons))
        self.reasons = reasons


def units_of(bureau: orgs.Organisation) -> list[orgs.Unit]:
    """Return the bureau's departments and units, by slug."""
    return list(db.session.scalars(
        sa.select(orgs.Unit).where(orgs.Unit.bureau_id == bureau.id).order_by(orgs.Unit.slug)))


def unit_in_use(unit: orgs.Unit) -> list[str]:
    """Return why ``unit`` cannot be deleted: its staff's accounts, and what plugins say
    (``kaimen_unit_in_use``: the schools it packages …). Empty when it can go."""
    reasons = []
    staff = list(db.session.scalars(
        sa.select(User.username).join(RoleGrant, RoleGrant.user_id == User.id)
        .where(RoleGrant.unit_id == unit.id).order_by(User.username)))
    if staff:
        reasons.append(ngettext(
            "%(num)d account works in this unit: %(names)s. Give it another unit first.",
            "%(num)d accounts work in this unit: %(names)s. Give them another unit first.",
            len(staff), names=name_list(staff)))
    for answer in plugins.state().manager.hook.kaimen_unit_in_use(unit=unit):
        reasons += [str(reason) for reason in answer or []]
    return reasons


def delete_unit(unit: orgs.Unit, actor: Any = None) -> None:
    """Delete ``unit`` unless something holds it (raises ``UnitInUse``); audited."""
    reasons = unit_in_use(unit)
    if reasons:
        raise UnitInUse(reasons)
    audit.record("unit.deleted", unit, actor=actor, bureau=unit.bureau,
                 data={"slug": unit.slug, "name": unit.name, "kind": unit.kind})
    db.session.delete(unit)
    db.session.flush()
