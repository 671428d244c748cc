"""The one pagination helper: every list page uses it and the ``pager`` macro."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from flask import request, url_for
from flask_sqlalchemy.pagination import Pagination, SelectPagination
from sqlalchemy import orm

from .extensions import db

PER_PAGE = 25


class _Pagination(SelectPagination):
    """Count with the statement's execution options: Flask-SQLAlchemy's count drops them,
    so a statement that lifts a criterion (``all_schools``, ``lift``) was counted without."""

    def _query_count(self) -> int:
        select = self._query_args["select"]
        sub = select.options(orm.lazyload("*")).order_by(None).subquery()
        count = sa.select(sa.func.count()).select_from(sub)
        count = count.execution_options(**select.get_execution_options())
        return int(self._query_args["session"].execute(count).scalar() or 0)


def _page_of(statement: Any, page: int, per_page: int) -> Pagination:
    return _Pagination(select=statement, session=db.session(), page=page, per_page=per_page,
                       error_out=False, count=True)


def paginate(statement: Any, per_page: int = PER_PAGE) -> Pagination:
    """Return the page of ``statement`` named by ``?page=``, clamped to the pages there are."""
    requested = request.args.get("page", 1, type=int) or 1
    # Bound the number so its OFFSET fits the database's integers; past the end means the last page.
    page = min(max(requested, 1), 2**31 // per_page)
    result = _page_of(statement, page, per_page)
    last = max(result.pages, 1)
    if page > last:
        result = _page_of(statement, last, per_page)
    return result


def page_url(number: int) -> str:
    """Return the current page's URL with its filters and ``page=number``."""
    args: dict[str, Any] = request.args.to_dict() | {"page": number}
    return url_for(request.endpoint or "core.directory", **(request.view_args or {}), **args)
