"""School years and terms of a bureau, and the classes of each school with their teachers.

Plugins read them through this package: ``current_year(org)``, ``current_term(org)``,
``classes_of(school, year)``, ``classes_taught_by(user, school)`` and the models.
"""

from .models import SchoolClass, SchoolClassTeacher, SchoolYear, Term, grade_label
from .services import classes_of, classes_taught_by, current_term, current_year, years_of

__all__ = [
    "SchoolClass",
    "SchoolClassTeacher",
    "SchoolYear",
    "Term",
    "classes_of",
    "classes_taught_by",
    "current_term",
    "current_year",
    "grade_label",
    "years_of",
]
