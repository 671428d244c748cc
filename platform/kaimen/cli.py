"""The ``flask --app kaimen kaimen …`` commands."""

from __future__ import annotations

import functools
import getpass
import sys
from collections.abc import Callable
from typing import Any

import click
import sqlalchemy as sa
from flask import Flask
from flask.cli import AppGroup

from . import audit, audit_checkpoints, notify, orgs, plugins, provisioning, rls, tenancy
from .auth.roles import ROLES, SCHOOL_ROLES
from .extensions import db

kaimen = AppGroup("kaimen", help="Kaimen administration: tenants, users, plugins, audit, mail.")


def transactional(command: Callable[..., Any]) -> Callable[..., Any]:
    """Run a command in the system scope and one transaction: all of it or nothing."""

    @functools.wraps(command)
    def run(*args: Any, **kwargs: Any) -> Any:
        with tenancy.system_scope():
            try:
                result = command(*args, **kwargs)
            except BaseException:
                db.session.rollback()
                raise
            db.session.commit()
            return result

    return run


@kaimen.group()
def tenants() -> None:
    """Provision bureaus and schools from tenant files."""


@tenants.command("load")
@click.argument("path", type=click.Path(dir_okay=False))
@transactional
def tenants_load(path: str) -> None:
    """Create or update what a tenants TOML file describes (idempotent)."""
    try:
        report = provisioning.load(path)
    except provisioning.TenantFileError as error:
        raise click.ClickException(str(error)) from None
    click.echo(f"{path}: {report.created} created, {report.updated} updated")
    generated = {u: p for u, p in report.passwords.items() if p}
    if generated:
        click.echo("New accounts and their passwords (shown once):")
        for username, password in sorted(generated.items()):
            click.echo(f"  {username:24} {password}")


@kaimen.group()
def demo() -> None:
    """Demo data for the plugins."""


@demo.command("load")
@transactional
def demo_load() -> None:
    """Ask every plugin to fill the schools with demo data (skips what already has it)."""
    from .auth.models import User

    users = {u.username: u for u in db.session.scalars(sa.select(User))}
    bureaus = db.session.scalars(sa.select(orgs.Organisation).filter_by(kind=orgs.BUREAU)).all()
    for bureau in bureaus:
        schools = [s for s in bureau.children if s.is_school]
        if schools or bureau.parent_id is None:
            plugins.state().manager.hook.kaimen_demo_data(
                bureau=bureau, schools=schools, users=users
            )
    click.echo(f"demo data loaded for {len(bureaus)} bureaus")


@kaimen.group("plugins")
def plugins_group() -> None:
    """List plugins and switch them per school."""


@plugins_group.command("list")
def plugins_list() -> None:
    """List the installed plugins."""
    for name, module in sorted(plugins.state().plugins.items()):
        click.echo(f"{name:16} {module.__name__}")


def _switch(school_slug: str, name: str, enabled: bool) -> None:
    school = orgs.find(school_slug, orgs.SCHOOL)
    if school is None:
        raise click.ClickException(f"no school {school_slug!r}")
    try:
        changed = plugins.set_enabled(school, name, enabled)
    except KeyError:
        raise click.ClickException(f"no plugin {name!r} is installed") from None
    state = "enabled" if enabled else "disabled"
    click.echo(f"{name} {state} for {school.slug}" + ("" if changed else " (unchanged)"))


@plugins_group.command("enable")
@click.argument("school")
@click.argument("name")
@transactional
def plugins_enable(school: str, name: str) -> None:
    """Switch plugin NAME on for SCHOOL."""
    _switch(school, name, True)


@plugins_group.command("disable")
@click.argument("school")
@click.argument("name")
@transactional
def plugins_disable(school: str, name: str) -> None:
    """Switch plugin NAME off for SCHOOL."""
    _switch(school, name, False)


@kaimen.group("audit")
def audit_group() -> None:
    """The keyed hash-chained audit log and its signed checkpoints."""


@audit_group.command("verify")
@click.option(
    "--checkpoints",
    type=click.Path(exists=True, dir_okay=False),
    help="A file of signed checkpoints the chains must still match.",
)
@click.option(
    "--public-key",
    type=click.Path(exists=True, dir_okay=False),
    help="The checkpoints' public key (default: the half of the configured signing key).",
)
def audit_verify(checkpoints: str | None, public_key: str | None) -> None:
    """Recompute every chain; exit non-zero naming the first bad event of each."""
    anchors: list[audit.Checkpoint] = []
    if checkpoints is not None:
        try:
            anchors = audit_checkpoints.read(checkpoints, audit_checkpoints.public_key(public_key))
        except audit_checkpoints.CheckpointError as error:
            click.echo(f"BROKEN: {error}", err=True)
            sys.exit(1)
    breaches = audit.verify(anchors)
    for breach in breaches:
        click.echo(f"BROKEN: {breach}", err=True)
    if breaches:
        sys.exit(1)
    count = db.session.scalar(sa.select(sa.func.count()).select_from(audit.AuditEvent))
    click.echo(f"audit log intact: {count} events")
    if checkpoints is None:
        click.echo("(without --checkpoints, a chain cut short or deleted whole goes unseen)")
    else:
        click.echo(f"consistent with {len(anchors)} checkpoints")


@audit_group.command("checkpoint")
@transactional
def audit_checkpoint() -> None:
    """Sign the heads of each bureau's chains into the checkpoints file; send it to supervisors."""
    try:
        signed = audit_checkpoints.checkpoint()
    except audit_checkpoints.CheckpointError as error:
        raise click.ClickException(str(error)) from None
    except audit_checkpoints.LogBroken as broken:
        for breach in broken.breaches:
            click.echo(f"BROKEN: {breach}", err=True)
        raise click.ClickException("the audit log does not verify: nothing was signed") from None
    for fields in signed:
        events, chains = audit_checkpoints.events_signed(fields), len(fields["chains"])
        click.echo(f"{fields['bureau']}: {events} events in {chains} chains")
    click.echo(f"{len(signed)} checkpoints written to {audit_checkpoints.checkpoints_path()}")


@audit_group.command("rechain")
@transactional
def audit_rechain() -> None:
    """Re-key chains written before the audit key existed (once, after upgrading)."""
    path = audit_checkpoints.checkpoints_path()
    checkpointed: set[int] = set()
    try:
        if path.exists():
            key = audit_checkpoints.public_key()
            checkpointed = {
                head.chain_id
                for checkpoint in audit_checkpoints.read(path, key)
                for head in checkpoint.heads
            }
        done = audit.rechain(checkpointed)
    except (audit.RechainRefused, audit_checkpoints.CheckpointError) as error:
        raise click.ClickException(str(error)) from None
    for (bureau_id, chain_id), count in sorted(done.items()):
        click.echo(f"{audit.chain_label(bureau_id, chain_id)}: {count} events re-keyed")
    click.echo(f"{len(done)} chains re-keyed")


@kaimen.command("rls")
@click.option("--apply", is_flag=True, help="Put the tables that lack it under the policy.")
def rls_command(apply: bool) -> None:
    """Check that every school-owned table has PostgreSQL row-level security."""
    with db.engine.begin() as connection:
        if connection.dialect.name != "postgresql":
            click.echo("not PostgreSQL: row-level security does not apply")
            return
        missing = sorted(tenancy.tenant_table_names() - rls.policed_tables(connection))
        if missing and apply:
            rls.enable(connection, missing)
            click.echo(f"row-level security enabled on: {', '.join(missing)}")
            return
    if missing:
        click.echo(f"MISSING row-level security: {', '.join(missing)}", err=True)
        sys.exit(1)
    click.echo("every school-owned table has row-level security")


@kaimen.command("notify")
@click.option("--limit", default=500, show_default=True, help="Most messages to send in this run.")
def notify_command(limit: int) -> None:
    """Deliver the outbox: mail and text messages waiting to be sent."""
    report = notify.deliver(limit)
    click.echo(f"sent {report.sent}, retrying {report.retrying}, failed {report.failed}")
    if report.stuck:
        click.echo(
            f"{report.stuck} messages were being sent when a worker stopped; "
            "check them before resending",
            err=True,
        )


@kaimen.group("users")
def users_group() -> None:
    """Create users from the command line."""


@users_group.command("create")
@click.argument("username")
@click.option("--name", "display_name", required=True, help="The person's full name.")
@click.option("--role", required=True, type=click.Choice(sorted(ROLES)))
@click.option("--org", "org_slug", required=True, help="Slug of the school or bureau.")
@click.option("--unit", "unit_slug", default=None, help="Unit slug, for unit_staff.")
@click.option("--email", default=None)
@transactional
def users_create(
    username: str,
    display_name: str,
    role: str,
    org_slug: str,
    unit_slug: str | None,
    email: str | None,
) -> None:
    """Create a user with one grant; the password is asked for."""
    from .admin.services import NewUser, UserError, add_user

    kind = orgs.SCHOOL if role in SCHOOL_ROLES else orgs.BUREAU
    org = orgs.find(org_slug, kind)
    if org is None:
        raise click.ClickException(f"no {kind} {org_slug!r}")
    unit = None
    if role == "unit_staff":
        unit = db.session.scalar(
            sa.select(orgs.Unit).filter_by(bureau_id=org.id, slug=unit_slug or "")
        )
        if unit is None:
            raise click.ClickException("unit_staff needs --unit with a unit of that bureau")
    password = getpass.getpass("Password: ") if sys.stdin.isatty() else sys.stdin.readline().strip()
    try:
        add_user(NewUser(
            username=username, display_name=display_name, email=email, password=password,
            role=role, org=org, unit_id=unit.id if unit is not None else None,
        ))
    except UserError as error:
        raise click.ClickException(str(error)) from None
    click.echo(f"created {username}")


@users_group.command("list")
def users_list() -> None:
    """List every account with its roles."""
    from .auth.models import User

    for user in db.session.scalars(sa.select(User).order_by(User.username)):
        roles = ", ".join(
            f"{g.role}@{g.org.slug}" + (f"/{g.unit.slug}" if g.unit else "") for g in user.grants
        )
        state = "" if user.active else " (disabled)"
        click.echo(f"  {user.username:18} {user.display_name:8} {roles}{state}")


def init_app(app: Flask) -> None:
    app.extensions["kaimen"].manager.hook.kaimen_cli(group=kaimen)
    app.cli.add_command(kaimen)
