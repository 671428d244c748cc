"""The home-visit book's two blueprints.

The school's is mounted under ``/s/<school>/homevisits``; the bureau's, under
``/b/<bureau>/homevisits``, shows figures only, never a student.
"""

from __future__ import annotations

from flask import Blueprint

school_blueprint = Blueprint(
    "homevisits", __name__, template_folder="templates", static_folder="static"
)
bureau_blueprint = Blueprint("homevisits_bureau", __name__, template_folder="templates")
