"""Kaimen: the open-door platform of a county education bureau and its schools."""

from .app import create_app
from .auth.access import Permission, public, require
from .hookspecs import hookimpl
from .plugins import MetricTable, NavItem, Panel
from .tenancy import TenantOwned, all_schools

__all__ = [
    "MetricTable",
    "NavItem",
    "Panel",
    "Permission",
    "TenantOwned",
    "all_schools",
    "create_app",
    "hookimpl",
    "public",
    "require",
]
