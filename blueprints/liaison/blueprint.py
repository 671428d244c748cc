"""The liaison blueprints: /b/<bureau>/liaison/ for bureaus, /s/<school>/liaison/ for schools."""

from flask import Blueprint

NAME = "liaison"

school_blueprint = Blueprint(NAME, __name__, template_folder="templates")
bureau_blueprint = Blueprint(
    f"{NAME}_bureau", __name__, template_folder="templates", static_folder="static"
)
