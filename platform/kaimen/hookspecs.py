"""The hooks a Kaimen plugin may implement, each a documented contract.

A plugin is a module registered under the entry-point group ``kaimen.plugins``.
It implements any of these hooks with ``@kaimen.hookimpl``. Hooks that take a
school are only called for schools where the plugin is enabled; hooks that take
``schools`` receive only the schools where the plugin is enabled (the core calls
them through ``kaimen.call_per_plugin``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from datetime import date

    import click

    from .auth.access import Permission
    from .auth.models import User
    from .orgs import Organisation, Unit
    from .plugins import MetricTable, NavItem, Panel, SchoolGroup, StatementCriteria, Trend
    from .receipts import Receipt

hookspec = pluggy.HookspecMarker("kaimen")
hookimpl = pluggy.HookimplMarker("kaimen")


@hookspec
def kaimen_permissions() -> list[Permission]:
    """Return the plugin's permissions as ``kaimen.Permission`` objects.

    Each names the roles that hold it by default, for example
    ``Permission.of("complaints.handle", _l("Handle complaints"), ["school_admin"])``.
    Bureau roles reach every school below their bureau.
    """


@hookspec
def kaimen_navigation(org: Organisation, user: User | Any) -> list[NavItem]:
    """Return ``NavItem`` entries for the navigation bar while ``org`` is shown.

    ``org`` is the school or bureau of the current page; ``user`` is the current
    user (Flask-Login's anonymous user for parents). Return only entries the user may open.
    """


@hookspec
def kaimen_school_panels(school: Organisation) -> list[Panel]:
    """Return ``Panel`` objects shown on the school's public page, ``/s/<school>/``.

    Panels are public: show nothing that identifies a person. Render them from the
    plugin's templates (``kaimen.render_panel``).
    """


@hookspec
def kaimen_staff_panels(school: Organisation, user: User) -> list[Panel]:
    """Return ``Panel`` objects for ``user``'s desk at ``school``, ``/s/<school>/desk/``.

    The desk is where school staff land after logging in: what is waiting for *them*
    (cases they are in charge of, due or overdue; pledges awaiting their signature).
    Return only what ``user`` may see; return nothing when nothing waits.
    """


@hookspec
def kaimen_audit_actions() -> dict[str, Any]:
    """Return ``{action: label}`` for the audit events this plugin records.

    The supervisors' audit log (``/b/<bureau>/audit/``) shows each event's action by its
    label, a ``lazy_gettext`` string such as "Pledge published", and offers the labels in
    its action filter. An action no plugin labels is shown as recorded.
    """


@hookspec(firstresult=True)
def kaimen_audit_object(
    object_type: str, object_id: str, school: Organisation | None, bureau: Organisation
) -> tuple[Any, str | None] | None:
    """Return ``(label, url)`` of an object an audit event changed, or None if not yours.

    ``object_type`` is the class name ``audit.record`` stored (``"Pledge"``), ``school`` the
    event's school (None for a bureau's own objects), ``bureau`` the bureau whose chain
    holds the event. Build both without reading the
    object: the page lists fifty events at a time. ``url`` is the page where the object
    can be seen (None when it has none); the first plugin that answers wins.
    """


@hookspec
def kaimen_school_figures(bureau: Organisation, schools: list[Organisation]) -> dict[int, Any]:
    """Return this plugin's raw umbrella figures for each of ``schools``: ``{id: data}``.

    ``data`` is plain and picklable (numbers, ISO dates, ids, small dicts), counted from
    the school's own rows and ``bureau``'s, with a fixed number of queries for all the
    schools. No words, no names, nothing from users or grants: ``kaimen.figures`` keeps
    the answer until the school's version or the bureau's day changes, then asks again
    for the changed schools only, and hands them to ``kaimen_bureau_metrics``.
    """


@hookspec
def kaimen_bureau_metrics(
    bureau: Organisation, schools: list[Organisation], figures: dict[int, Any] | None
) -> MetricTable | None:
    """Return a ``MetricTable`` for the bureau's umbrella view, or None.

    ``schools`` are the schools below ``bureau`` where this plugin is enabled.
    Answer for all of them with a fixed number of queries (one per figure),
    never one query per school. A plugin that implements ``kaimen_school_figures``
    takes ``figures`` (with a default of None: count them then) and builds the table
    from them without counting again. Set ``MetricTable.links`` so a figure opens the
    filtered list behind it (for a school, and for the total), when the current
    user may open that list; build the URLs without a query.
    """


@hookspec
def kaimen_bureau_trends(
    bureau: Organisation, schools: list[Organisation], months: list[date],
    figures: dict[int, Any] | None,
) -> list[Trend]:
    """Return ``Trend`` series for the umbrella view: one value per month of ``months``.

    ``months`` are the first days of the last twelve months (bureau-local), oldest
    first; ``schools`` are the schools shown where this plugin is enabled. Answer
    with one query per series (group by day or month, then sum per month), or, for a
    plugin that keeps figures, from ``figures`` (as ``kaimen_bureau_metrics`` does).
    """


@hookspec
def kaimen_statement_criteria() -> list[StatementCriteria]:
    """Return conditions the core puts on every ORM statement, each liftable by an option.

    Called once when the app is created. The core's single ``do_orm_execute``
    listener applies them next to the tenancy scope, so no plugin listens itself.
    """


@hookspec
def kaimen_cli(group: click.Group) -> None:
    """Add Click commands to the ``flask kaimen`` command group."""


@hookspec
def kaimen_demo_data(
    bureau: Organisation, schools: list[Organisation], users: dict[str, User]
) -> None:
    """Create demo rows for ``schools`` of ``bureau`` in the caller's transaction.

    ``users`` maps usernames to the demo users loaded from the tenants file.
    It runs in the system scope; stamp ``school_id`` explicitly. It must be
    safe to run twice: do nothing for a school that already has demo rows.
    """


@hookspec(firstresult=True)
def kaimen_track_receipt(receipt: Receipt) -> Any:
    """Answer ``/track`` for a receipt this plugin issued, or return None.

    The core calls only the plugin named by ``receipt.plugin``, and only while it is
    enabled for the receipt's school. Return a Flask response (a page or a redirect).
    """


@hookspec(firstresult=True)
def kaimen_report_link(school: Organisation, reference: str, title: str) -> str | None:
    """Return a URL where a parent reports a problem about ``reference``, or None.

    ``reference`` is an opaque string such as ``"pledge:12"``; ``title`` is what
    the report is about, to prefill the form. Lets one plugin send parents to
    another's form (a broken pledge to the complaint box) without an import.
    """


@hookspec
def kaimen_report_counts(
    schools: list[Organisation], references: list[str]
) -> dict[str, tuple[int, int]]:
    """Return ``{reference: (reports, substantiated)}`` for reports filed via report links.

    ``schools`` are the schools whose reports count (for one school's page, just that
    school; for the umbrella view, every school below the bureau where the answering
    plugin is enabled), so a bureau's figures take one call and a fixed number of
    queries. References of other schools count nothing. References must be unique
    across schools (``"pledge:<id>"`` is).
    """


@hookspec
def kaimen_tenant_sections() -> dict[str, Callable[[Any], None]]:
    """Return ``{section name: load}`` for the tenants-file sections this plugin reads.

    ``load(loader)`` is called once per file that has the section, after the core's
    sections (bureaus, units, schools, users, school years, classes), in section-name
    order, in the loading transaction. ``loader.document[name]`` is the section as
    parsed; ``loader.org(where, slug, kind)`` finds a bureau or school of the file or
    the database; ``raise loader.fail(where, message)`` stops the whole load (nothing is
    kept) naming the place; add to ``loader.report.created`` / ``.updated`` what it did.
    Name sections after the plugin (``liaison_link``) so they cannot clash.
    """


@hookspec
def kaimen_school_groups(bureau: Organisation, user: User | Any) -> list[SchoolGroup]:
    """Return ways to group ``bureau``'s schools, for the umbrella view's filters.

    Each ``SchoolGroup`` has a key, a label and options (value, label, school ids);
    the umbrella view offers one filter per group and lists the schools of an option
    when it is chosen. An option marked ``mine`` holds the schools ``user`` answers
    for; the umbrella view lists them first. Answer with a fixed number of queries.
    """


@hookspec
def kaimen_unit_in_use(unit: Unit) -> list[str]:
    """Return why ``unit`` (a bureau's department or subordinate unit) cannot be deleted now.

    A bureau admin deletes a unit from ``/b/<bureau>/admin/units``; the core refuses while
    any plugin answers a reason, and shows every reason. Each is a translated sentence that
    names what holds the unit (the schools it packages this school year …), so the admin
    knows what to change first. Return an empty list when nothing of yours refers to it.
    """
