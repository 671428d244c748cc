"""Kaimen: the open-door platform of a county education bureau and its schools.

This package is the plugin API. A plugin imports the core from here and from
the documented submodules in ``PLUGIN_SUBMODULES`` (``kaimen.forms``: form
validators; ``kaimen.classes``: school years, terms and classes; ``kaimen.uploads``:
files checked by their content), never
from anywhere else in ``kaimen``; a test enforces it. What it offers:

Database and tenancy
    ``db``, ``Model`` (the typed declarative base), ``TenantOwned`` (the
    ``school_id`` mixin), ``all_schools(statement)`` (cross the request's scope,
    explicitly), ``StatementCriteria`` and ``lift`` (conditions on every statement),
    ``among(column, ids)`` (the column is one of many ids, sent as one parameter:
    use it rather than ``in_`` for a list of schools).
Organisations and people
    ``Organisation``, ``Unit``, ``schools_under(bureau)``, ``User``.
Permissions
    ``Permission``, ``public``, ``require(permission)`` (one marker per view),
    ``user_can(user, permission, org)``, ``holders(permission, org, reach=...)``,
    ``count_holders(permission, schools)``, ``ROLE_LABELS`` (a role's translated name,
    to show beside a person; never to decide access).
Plugins
    ``hookimpl``, ``hookspec`` (for a plugin's own ``hookspecs.py``), ``NavItem``,
    ``Panel``, ``MetricTable``, ``Trend`` (figures per month), ``SchoolGroup`` and
    ``GroupOption`` (the umbrella view's filters), ``hook_for(school, name)``,
    ``call_per_plugin(name, schools, ...)``, ``bureau_metrics(bureau, schools)`` (the
    umbrella's tables, kept figures included), ``kept_figures(name, bureau, schools)``
    (a plugin's own kept figures, for its other umbrella hooks), ``is_enabled(name, school)``.
Pages
    ``render_panel``, ``render_private``, ``private`` (``Cache-Control: no-store``
    is set by one rule), ``cached_page`` (a public page served to anonymous visitors
    from the cache until the school's data changes), ``cached_form_page`` (a public
    form's page rendered once and reused with each visitor's tokens; ``cached_form`` lets
    the front answer it before anything loads), ``paginate``,
    ``table_response``
    (CSV and Excel), ``touch_schools`` (a write the flush does not see: cached pages and
    umbrella figures of those schools start afresh), ``limiter``,
    ``id_arg(name)`` (an id from the query string, None unless it fits the column),
    ``name_list(names)`` (names in words of the page's locale: "甲、乙和丙").
Records and messages
    ``audit`` (``audit.record``), ``notify`` (``notify.enqueue``), ``receipts``
    (``receipts.issue``, ``receipts.replay``, ``ReceiptTokenMixin``).
Time and the command line
    ``utcnow``, ``coarse_now`` (to the minute: the time of what the public sends),
    ``local_date(org)``, ``end_of_local_day(org, day)``, ``transactional`` (one
    transaction per command).
"""

from . import audit, notify, receipts
from .app import create_app
from .auth.access import Permission, count_holders, holders, public, require, user_can
from .auth.models import User
from .auth.roles import ROLE_LABELS
from .cli import transactional
from .export import table_response
from .extensions import Model, db, limiter
from .hookspecs import hookimpl, hookspec
from .i18n import name_list
from .idlists import among
from .orgs import Organisation, Unit, schools_under
from .pagecache import cached_form, cached_form_page, cached_page
from .pagecache import touch as touch_schools
from .pagination import paginate
from .plugins import (
    GroupOption,
    MetricTable,
    NavItem,
    Panel,
    SchoolGroup,
    SchoolRef,
    StatementCriteria,
    Trend,
    bureau_metrics,
    call_per_plugin,
    hook_for,
    is_enabled,
    kept_figures,
    lift,
)
from .safety import id_arg
from .tenancy import TenantOwned, all_schools
from .timeutil import coarse_now, end_of_local_day, local_date, utcnow
from .web.pages import private, render_panel, render_private

# The submodules a plugin may import besides this package.
PLUGIN_SUBMODULES = ("kaimen.forms", "kaimen.classes", "kaimen.uploads")

__all__ = [
    "PLUGIN_SUBMODULES",
    "GroupOption",
    "ROLE_LABELS",
    "MetricTable",
    "Model",
    "NavItem",
    "Organisation",
    "Panel",
    "Permission",
    "SchoolGroup",
    "SchoolRef",
    "StatementCriteria",
    "TenantOwned",
    "Trend",
    "Unit",
    "User",
    "all_schools",
    "among",
    "audit",
    "cached_form",
    "cached_form_page",
    "cached_page",
    "bureau_metrics",
    "call_per_plugin",
    "coarse_now",
    "count_holders",
    "create_app",
    "db",
    "hook_for",
    "holders",
    "hookimpl",
    "hookspec",
    "id_arg",
    "is_enabled",
    "kept_figures",
    "lift",
    "limiter",
    "end_of_local_day",
    "local_date",
    "name_list",
    "notify",
    "paginate",
    "private",
    "public",
    "receipts",
    "render_panel",
    "render_private",
    "require",
    "schools_under",
    "table_response",
    "touch_schools",
    "transactional",
    "user_can",
    "utcnow",
]
