"""``among(column, ids)``: a column's value is one of many ids, sent as one parameter.

``column.in_(ids)`` sends one parameter per id: at a thousand schools each statement of
the umbrella view carried a thousand, which SQLAlchemy renders anew on every execution
(it cannot keep an expanded IN in its statement cache) and PostgreSQL parses and plans
anew (~5 ms a statement there, ~1 ms of Python on both). ``among`` sends the ids as one
value: an integer array on PostgreSQL (``column = ANY(:ids)``, which uses the column's
index as ``IN`` does), a JSON array read by ``json_each`` on SQLite. The statement's
text is the same whatever the number of ids, so it is compiled once.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql import operators
from sqlalchemy.sql.elements import ColumnElement, Grouping, UnaryExpression
from sqlalchemy.sql.visitors import InternalTraversal


class IdList(sa.types.TypeDecorator[list[int]]):
    """A list of integer ids bound as one parameter: an array, or JSON text on SQLite."""

    impl = sa.String
    cache_ok = True

    def load_dialect_impl(self, dialect: sa.Dialect) -> Any:
        if dialect.name == "postgresql":
            return dialect.type_descriptor(postgresql.ARRAY(sa.Integer))
        return dialect.type_descriptor(sa.String())

    def process_bind_param(self, value: Any, dialect: sa.Dialect) -> Any:
        ids = [int(v) for v in value or ()]
        return ids if dialect.name == "postgresql" else json.dumps(ids)


class Among(ColumnElement[bool]):
    """``column`` is one of the ids in one bound list (see the module)."""

    inherit_cache = True
    type = sa.Boolean()
    _traverse_internals = [
        ("column", InternalTraversal.dp_clauseelement),
        ("ids", InternalTraversal.dp_clauseelement),
    ]

    def __init__(self, column: Any, ids: Iterable[int] | sa.BindParameter[Any]) -> None:
        self.column = sa.sql.coercions.expect(sa.sql.roles.ExpressionElementRole, column)
        self.ids = (ids if isinstance(ids, sa.BindParameter)
                    else sa.bindparam(None, list(ids), type_=IdList()))

    @property
    def _from_objects(self) -> list[Any]:
        return self.column._from_objects

    def self_group(self, against: Any = None) -> Any:
        return Grouping(self)

    def _negate(self) -> Any:
        return UnaryExpression(Grouping(self), operator=operators.inv)


@compiles(Among, "postgresql")
def _any_array(element: Among, compiler: Any, **kw: Any) -> str:
    return f"{compiler.process(element.column, **kw)} = ANY({compiler.process(element.ids, **kw)})"


@compiles(Among)
def _json_each(element: Among, compiler: Any, **kw: Any) -> str:
    column, ids = compiler.process(element.column, **kw), compiler.process(element.ids, **kw)
    return f"{column} IN (SELECT value FROM json_each({ids}))"  # noqa: S608 -- SQL, no values


def among(column: Any, ids: Iterable[int]) -> ColumnElement[bool]:
    """Return the condition "``column`` is one of ``ids``", with the ids as one parameter.

    One id is an equality: the planner then walks an index on ``(column, …)`` in order,
    which a list (``IN`` or ``ANY``) does not let PostgreSQL before 17 do.
    """
    wanted = list(ids)
    if len(wanted) == 1:
        return sa.sql.coercions.expect(sa.sql.roles.ExpressionElementRole, column) == wanted[0]
    return Among(column, wanted)
