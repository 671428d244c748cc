"""The one pagination helper: every list page uses it and the ``pager`` macro."""

from __future__ import annotations

from typing import Any

from flask import request, url_for
from flask_sqlalchemy.pagination import Pagination

from .extensions import db

PER_PAGE = 25


def paginate(statement: Any, per_page: int = PER_PAGE) -> Pagination:
    """Return the page of ``statement`` named by ``?page=``, clamped to the pages there are."""
    requested = request.args.get("page", 1, type=int) or 1
    # Bound the number so its OFFSET fits the database's integers; past the end means the last page.
    page = min(max(requested, 1), 2**31 // per_page)
    result = db.paginate(statement, page=page, per_page=per_page, error_out=False)
    last = max(result.pages, 1)
    if page > last:
        result = db.paginate(statement, page=last, per_page=per_page, error_out=False)
    return result


def page_url(number: int) -> str:
    """Return the current page's URL with its filters and ``page=number``."""
    args: dict[str, Any] = request.args.to_dict() | {"page": number}
    return url_for(request.endpoint or "core.directory", **(request.view_args or {}), **args)
