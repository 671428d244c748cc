"""The pledge board's two blueprints, both serving its templates and static files.

The school's is mounted under ``/s/<school>/pledges``, the bureau's under ``/b/<bureau>/pledges``.
"""

from __future__ import annotations

from flask import Blueprint

school_blueprint = Blueprint(
    "pledges", __name__, template_folder="templates", static_folder="static"
)
bureau_blueprint = Blueprint(
    "pledges_bureau", __name__, template_folder="templates", static_folder="static"
)
