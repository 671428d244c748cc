"""Fixtures of the home-visit tests: a school year under way, classes, a roster in a1."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta
from types import SimpleNamespace
from typing import Any

import pytest
import sqlalchemy as sa
from flask_babel import force_locale

from blueprints.homevisits import roster, services
from blueprints.homevisits.models import Student
from kaimen.classes import services as class_services
from kaimen.classes.demo import year_dates
from kaimen.extensions import db
from kaimen.timeutil import local_date

ROSTER_CSV = """学号,姓名,年级,班级,监护人1,关系1,电话1,监护人2,关系2,电话2
S001,林小雨,七年级,1班,林大海,父亲,13800000001,,,
S002,周子轩,7,1班,周母,母亲,13800000002,周爷爷,祖父,0571-8888888
S003,吴思远,七年级,2班,吴海燕,母亲,13800000003,,,
S004,郑可心,初一,2班,,,,,,
"""


def english(client: Any) -> Any:
    """Ask for English pages, so assertions do not depend on the catalogue."""
    client.set_cookie("kaimen_locale", "en")
    return client


@pytest.fixture(autouse=True)
def english_messages(ctx: Any) -> Iterator[None]:
    """Read the services' messages in English, so assertions do not depend on the catalogue."""
    with force_locale("en"):
        yield


@pytest.fixture
def client(app: Any) -> Any:
    return english(app.test_client())


def visit_values(day: date, method: str = "phone", **values: Any) -> services.VisitValues:
    return services.VisitValues(visited_on=day, method=method,
                                topics=values.pop("topics", ["study"]), **values)


@pytest.fixture
def hv(county: Any, make: Any) -> SimpleNamespace:
    """County A's year under way; a1 has classes 七年级1班 (a1.teacher's) and 2班, a roster."""
    today = local_date(county.a)
    name, starts_on, ends_on, terms = year_dates(today)
    year, _changed = class_services.save_year(county.a, None, name=name, starts_on=starts_on,
                                              ends_on=ends_on, terms=terms)
    teacher = county.users["a1.teacher"]
    other = make.user("a1.teacher2", "teacher", county.a1)
    class1, _ = class_services.save_class(county.a1, None, year=year, grade=7, name="1班",
                                          class_teacher=teacher)
    class2, _ = class_services.save_class(county.a1, None, year=year, grade=7, name="2班",
                                          class_teacher=other)
    report = roster.import_roster(county.a1, year, "roster.csv", ROSTER_CSV.encode())
    assert report.ok, report.problems
    db.session.commit()
    students = {s.number: s for s in db.session.scalars(sa.select(Student))}
    term = class_services.current_term(county.a1)
    return SimpleNamespace(county=county, year=year, today=today, class1=class1, class2=class2,
                           teacher=teacher, other=other, students=students, term=term,
                           yesterday=today - timedelta(days=1))
