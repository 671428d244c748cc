"""The plans' two blueprints: ``/s/<school>/plans`` and ``/b/<bureau>/plans``."""

from __future__ import annotations

from flask import Blueprint

NAME = "plans"

school_blueprint = Blueprint(NAME, __name__, template_folder="templates", static_folder="static")
bureau_blueprint = Blueprint(
    f"{NAME}_bureau", __name__, template_folder="templates", static_folder="static"
)
