"""The box's blueprints: the school's pages and the bureau's supervision pages."""

from __future__ import annotations

from flask import Blueprint

NAME = "complaints"

school_blueprint = Blueprint(NAME, __name__, template_folder="templates", static_folder="static")
bureau_blueprint = Blueprint(f"{NAME}_bureau", __name__, template_folder="templates",
                             static_folder="static")
