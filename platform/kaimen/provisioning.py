"""Provision bureaus, units, schools, users and features from a tenants TOML file.

``load`` runs in the caller's transaction and is idempotent: a second load of
the same file changes nothing, an edited file updates what changed. Any error
raises ``TenantFileError`` naming the file and the field, before the caller
commits, so nothing is half-loaded.
"""

from __future__ import annotations

import os
import secrets
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import sqlalchemy as sa
from flask import current_app, has_app_context

from . import audit, orgs, plugins
from .auth.models import BUREAU_ROLES, SCHOOL_ROLES, RoleGrant, User
from .classes import tenants as classes_tenants
from .extensions import db
from .i18n import LOCALES

ORG_FIELDS = {"slug", "name", "name_en", "address", "phone", "hotline", "email"}
BUREAU_FIELDS = ORG_FIELDS | {"parent", "timezone", "default_locale"}
SCHOOL_FIELDS = ORG_FIELDS | {"bureau", "disabled_plugins"}
UNIT_FIELDS = {"bureau", "slug", "name", "name_en", "kind"}
USER_FIELDS = {"username", "display_name", "email", "phone", "grants"}
GRANT_FIELDS = {"role", "org", "unit"}
SLUG_CHARS = set("abcdefghijklmnopqrstuvwxyz0123456789-")


class TenantFileError(ValueError):
    """A tenants file that cannot be loaded, with the place of the mistake."""


@dataclass
class LoadReport:
    created: int = 0
    updated: int = 0
    passwords: dict[str, str] = field(default_factory=dict)  # new users only

    @property
    def changed(self) -> bool:
        return bool(self.created or self.updated)


class _Loader:
    def __init__(self, path: Path, document: dict) -> None:
        self.path, self.document = path, document
        self.report = LoadReport()
        self.orgs: dict[str, orgs.Organisation] = {}
        self.units: dict[tuple[str, str], orgs.Unit] = {}
        self.listed: dict[Any, str] = {}  # what the file has named so far, and where

    def fail(self, where: str, message: str) -> TenantFileError:
        return TenantFileError(f"{self.path}: {where}: {message}")

    def entries(self, key: str, allowed: set[str], required: set[str]) -> list[tuple[str, dict]]:
        items = self.document.get(key, [])
        if not isinstance(items, list):
            raise self.fail(key, "must be an array of tables ([[" + key + "]])")
        checked = []
        for index, item in enumerate(items):
            where = f"{key}[{index}]"
            if not isinstance(item, dict):
                raise self.fail(where, "must be a table")
            unknown = sorted(set(item) - allowed)
            if unknown:
                raise self.fail(f"{where}.{unknown[0]}", "unknown field")
            for name in sorted(required):
                if not isinstance(item.get(name), str) or not item[name].strip():
                    raise self.fail(f"{where}.{name}", "is required and must be a non-empty string")
            for name, value in item.items():
                if name not in {"grants", "disabled_plugins"} and not isinstance(value, str):
                    raise self.fail(f"{where}.{name}", "must be a string")
            if "slug" in item and not set(item["slug"]) <= SLUG_CHARS:
                raise self.fail(f"{where}.slug", "use only lower-case letters, digits and dashes")
            checked.append((where, item))
        return checked

    def claim(self, where: str, key: Any, label: str) -> None:
        """Refuse a second entry for the same slug or user, instead of letting the last win."""
        if key in self.listed:
            raise self.fail(where, f"{label} is already listed at {self.listed[key]}")
        self.listed[key] = where.rsplit(".", 1)[0]

    def org_upsert(self, where: str, slug: str, values: dict[str, Any]) -> orgs.Organisation:
        """Create or update the bureau or school ``slug``; never turn one kind into the other."""
        self.claim(f"{where}.slug", ("org", slug), f"{slug!r}")
        existing = db.session.scalar(sa.select(orgs.Organisation).filter_by(slug=slug))
        if existing is not None and existing.kind != values["kind"]:
            raise self.fail(
                f"{where}.slug", f"{slug!r} is already a {existing.kind}, not a {values['kind']}"
            )
        org: orgs.Organisation = self.upsert(orgs.Organisation, {"slug": slug}, values)
        return org

    def check_parent(self, where: str, slug: str, parent: orgs.Organisation) -> None:
        """Refuse a parent that is the bureau itself or sits below it (a cycle)."""
        path, seen = [slug], set()
        node: orgs.Organisation | None = parent
        while node is not None and node.id not in seen:
            seen.add(node.id)
            path.append(node.slug)
            if node.slug == slug:
                raise self.fail(where, f"makes a cycle: {' -> '.join(path)}")
            node = db.session.get(orgs.Organisation, node.parent_id) if node.parent_id else None
        if node is not None:
            raise self.fail(where, f"{parent.slug!r} already sits in a cycle of bureaus")

    def assign(self, obj: Any, values: dict[str, Any]) -> bool:
        changed = False
        for name, value in values.items():
            if getattr(obj, name) != value:
                setattr(obj, name, value)
                changed = True
        return changed

    def upsert(self, model: Any, lookup: dict[str, Any], values: dict[str, Any]) -> Any:
        obj = db.session.scalar(sa.select(model).filter_by(**lookup))
        if obj is None:
            obj = model(**lookup, **values)
            db.session.add(obj)
            self.report.created += 1
        elif self.assign(obj, values):
            self.report.updated += 1
        return obj

    def org(self, where: str, slug: str, kind: str) -> orgs.Organisation:
        found = self.orgs.get(slug) or orgs.find(slug, kind)
        if found is None or found.kind != kind:
            raise self.fail(where, f"no {kind} {slug!r} in this file or the database")
        return found

    def contact(self, item: dict) -> dict[str, Any]:
        return {name: item.get(name) or None for name in ORG_FIELDS - {"slug", "name"}} | {
            "name": item["name"].strip()
        }

    def load_bureaus(self) -> None:
        for where, item in self.entries("bureau", BUREAU_FIELDS, {"slug", "name"}):
            timezone = item.get("timezone", "Asia/Shanghai")
            try:
                ZoneInfo(timezone)
            except (ZoneInfoNotFoundError, ValueError):
                raise self.fail(f"{where}.timezone", f"unknown time zone {timezone!r}") from None
            locale = item.get("default_locale", "zh_Hans")
            if locale not in LOCALES:
                raise self.fail(f"{where}.default_locale", f"must be one of {', '.join(LOCALES)}")
            parent = None
            if "parent" in item:
                if item["parent"] == item["slug"]:
                    raise self.fail(f"{where}.parent", "a bureau cannot be its own parent")
                parent = self.org(f"{where}.parent", item["parent"], orgs.BUREAU)
                self.check_parent(f"{where}.parent", item["slug"], parent)
            values = self.contact(item) | {
                "kind": orgs.BUREAU,
                "timezone": timezone,
                "default_locale": locale,
                "parent_id": parent.id if parent else None,
            }
            self.orgs[item["slug"]] = self.org_upsert(where, item["slug"], values)
            db.session.flush()

    def load_units(self) -> None:
        for where, item in self.entries("unit", UNIT_FIELDS, {"bureau", "slug", "name", "kind"}):
            if item["kind"] not in (orgs.DEPARTMENT, orgs.SUBORDINATE):
                raise self.fail(f"{where}.kind", "must be 'department' or 'subordinate'")
            bureau = self.org(f"{where}.bureau", item["bureau"], orgs.BUREAU)
            self.claim(f"{where}.slug", ("unit", bureau.slug, item["slug"]), f"{item['slug']!r}")
            unit = self.upsert(
                orgs.Unit,
                {"bureau_id": bureau.id, "slug": item["slug"]},
                {"name": item["name"], "name_en": item.get("name_en"), "kind": item["kind"]},
            )
            self.units[(bureau.slug, item["slug"])] = unit
        db.session.flush()

    def load_schools(self) -> None:
        installed = set(plugins.state().plugins)
        for where, item in self.entries("school", SCHOOL_FIELDS, {"slug", "name", "bureau"}):
            bureau = self.org(f"{where}.bureau", item["bureau"], orgs.BUREAU)
            values = self.contact(item) | {"kind": orgs.SCHOOL, "parent_id": bureau.id}
            school = self.org_upsert(where, item["slug"], values)
            db.session.flush()
            self.orgs[item["slug"]] = school
            disabled = item.get("disabled_plugins", [])
            if not isinstance(disabled, list) or not all(isinstance(n, str) for n in disabled):
                raise self.fail(f"{where}.disabled_plugins", "must be an array of plugin names")
            for name in disabled:
                if name not in installed:
                    raise self.fail(f"{where}.disabled_plugins", f"no plugin {name!r} is installed")
            for name in sorted(installed):
                if plugins.set_enabled(school, name, name not in disabled):
                    self.report.updated += 1

    def grants_of(self, where: str, item: dict) -> set[tuple[str, int, int | None]]:
        grants = item.get("grants", [])
        if not isinstance(grants, list) or not grants:
            raise self.fail(f"{where}.grants", "give at least one grant: {role = ..., org = ...}")
        wanted = set()
        for index, grant in enumerate(grants):
            gwhere = f"{where}.grants[{index}]"
            if (
                not isinstance(grant, dict)
                or set(grant) - GRANT_FIELDS
                or "role" not in grant
                or "org" not in grant
            ):
                raise self.fail(
                    gwhere, 'must be {role = "...", org = "..."} (and unit for unit_staff)'
                )
            role = grant["role"]
            if role in SCHOOL_ROLES:
                org = self.org(f"{gwhere}.org", grant["org"], orgs.SCHOOL)
            elif role in BUREAU_ROLES:
                org = self.org(f"{gwhere}.org", grant["org"], orgs.BUREAU)
            else:
                raise self.fail(f"{gwhere}.role", f"unknown role {role!r}")
            unit_id = None
            if role == "unit_staff":
                unit = self.units.get((org.slug, grant.get("unit", "")))
                if unit is None:
                    unit = db.session.scalar(
                        sa.select(orgs.Unit).filter_by(bureau_id=org.id, slug=grant.get("unit", ""))
                    )
                if unit is None:
                    raise self.fail(
                        f"{gwhere}.unit", "unit_staff needs the slug of a unit of that bureau"
                    )
                unit_id = unit.id
            elif "unit" in grant:
                raise self.fail(f"{gwhere}.unit", "only unit_staff grants name a unit")
            wanted.add((role, org.id, unit_id))
        return wanted

    def load_users(self, demo_password: str | None) -> None:
        for where, item in self.entries("user", USER_FIELDS, {"username", "display_name"}):
            username = item["username"].strip().lower()
            self.claim(
                f"{where}.username",
                ("user", username),
                f"{username!r} (user names ignore letter case)",
            )
            wanted = self.grants_of(where, item)
            user = db.session.scalar(sa.select(User).where(User.username == username))
            values = {
                "display_name": item["display_name"],
                "email": item.get("email"),
                "phone": item.get("phone"),
            }
            is_new = user is None
            if user is None:
                user = User(username=username, **values)
                password = demo_password or secrets.token_urlsafe(12)
                user.set_password(password)
                db.session.add(user)
                self.report.created += 1
                self.report.passwords[username] = "" if demo_password else password
            elif self.assign(user, values):
                self.report.updated += 1
            current = {(g.role, g.org_id, g.unit_id): g for g in user.grants}
            for key in set(current) - wanted:
                user.grants.remove(current[key])
                self.report.updated += 1
            for role, org_id, unit_id in sorted(wanted - set(current), key=str):
                user.grants.append(RoleGrant(role=role, org_id=org_id, unit_id=unit_id))
                self.report.updated += 0 if is_new else 1  # a new user's grants are part of it
        db.session.flush()


def _plugin_sections() -> dict[str, Any]:
    """Return the tenants-file sections the installed plugins read (``kaimen_tenant_sections``)."""
    if not has_app_context() or "kaimen" not in current_app.extensions:
        return {}
    found: dict[str, Any] = {}
    for answer in plugins.state().manager.hook.kaimen_tenant_sections():
        clash = set(found) & set(answer or {})
        if clash:
            raise RuntimeError(f"two plugins read the tenants-file section {sorted(clash)[0]!r}")
        found.update(answer or {})
    return found


def parse(path: Path) -> dict:
    """Read a tenants file; raise ``TenantFileError`` naming the line of a syntax error."""
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise TenantFileError(f"{path}: cannot be read: {error.strerror}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise TenantFileError(f"{path}: not valid TOML: {error}") from None


def load(path: Path | str, demo_password: str | None = None) -> LoadReport:
    """Create or update everything ``path`` describes, in the caller's transaction."""
    path = Path(path)
    document = parse(path)
    plugin_sections = _plugin_sections()
    sections = {"bureau", "unit", "school", "user", *classes_tenants.SECTIONS, *plugin_sections}
    unknown = sorted(set(document) - sections)
    if unknown:
        raise TenantFileError(f"{path}: {unknown[0]}: unknown section")
    if demo_password is None:
        demo_password = os.environ.get("KAIMEN_DEMO_PASSWORD") or None
    loader = _Loader(path, document)
    loader.load_bureaus()
    loader.load_units()
    loader.load_schools()
    loader.load_users(demo_password)
    classes_tenants.load(loader)
    for name in sorted(plugin_sections):
        if name in document:
            plugin_sections[name](loader)
    if loader.report.changed:
        for org in loader.orgs.values():
            if org.is_bureau:
                audit.record(
                    "tenants.loaded",
                    org,
                    bureau=org,
                    data={
                        "file": path.name,
                        "created": loader.report.created,
                        "updated": loader.report.updated,
                    },
                )
    return loader.report
