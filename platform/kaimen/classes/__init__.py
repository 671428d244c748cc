"""School years and terms of a bureau, and the classes of each school with their teachers.

Plugins read them through this package: ``current_year(org)``, ``current_term(org)``,
``classes_of(school, year)``, ``classes_taught_by(user, school)``, ``parse_grade(text)``,
``table_rows(filename, content)`` (the raw rows of an .xlsx or a UTF-8/GBK CSV file, raising
``FileProblem``) and the models.
"""

from .importer import FileProblem, parse_grade, table_rows
from .models import SchoolClass, SchoolClassTeacher, SchoolYear, Term, grade_label
from .services import classes_of, classes_taught_by, current_term, current_year, years_of

__all__ = [
    "FileProblem",
    "SchoolClass",
    "SchoolClassTeacher",
    "SchoolYear",
    "Term",
    "classes_of",
    "classes_taught_by",
    "current_term",
    "current_year",
    "grade_label",
    "parse_grade",
    "table_rows",
    "years_of",
]
