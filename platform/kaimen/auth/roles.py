"""The roles: which exist, where each is held, and their translated names.

Roles are defined here and nowhere else. Views check permissions, never role
names; a permission names the roles that hold it by default.
"""

from flask_babel import lazy_gettext as _l

SCHOOL_ROLES = ("school_admin", "teacher")
BUREAU_ROLES = ("bureau_admin", "supervisor", "leader", "unit_staff")
ROLES = SCHOOL_ROLES + BUREAU_ROLES

ROLE_LABELS = {
    "school_admin": _l("School administrator"),
    "teacher": _l("Teacher"),
    "bureau_admin": _l("Bureau administrator"),
    "supervisor": _l("Conduct supervisor"),
    "leader": _l("Bureau leader"),
    "unit_staff": _l("Unit staff"),
}
