"""Translated names of the roles."""

from flask_babel import lazy_gettext as _l

ROLE_LABELS = {
    "school_admin": _l("School administrator"),
    "teacher": _l("Teacher"),
    "bureau_admin": _l("Bureau administrator"),
    "supervisor": _l("Conduct supervisor"),
    "leader": _l("Bureau leader"),
    "unit_staff": _l("Unit staff"),
}
