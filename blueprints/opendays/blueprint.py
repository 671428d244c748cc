"""The open-day calendar's blueprints: a school's pages and the bureau's."""

from __future__ import annotations

from flask import Blueprint

from .display import FILTERS

school_blueprint = Blueprint(
    "opendays", __name__, template_folder="templates", static_folder="static"
)
bureau_blueprint = Blueprint(
    "opendays_bureau", __name__, template_folder="templates", static_folder="static"
)
for _name, _filter in FILTERS.items():
    school_blueprint.add_app_template_filter(_filter, _name)
