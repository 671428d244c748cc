"""The one pagination helper: every list page uses it and the ``pager`` macro."""

from __future__ import annotations

from typing import Any

from flask import request, url_for
from flask_sqlalchemy.pagination import Pagination

from .extensions import db

PER_PAGE = 25


def paginate(statement: Any, per_page: int = PER_PAGE) -> Pagination:
    """Return the page of ``statement`` named by ``?page=``, clamped to the pages there are."""
    page = request.args.get("page", 1, type=int) or 1
    return db.paginate(statement, page=max(page, 1), per_page=per_page, error_out=False)


def page_url(number: int) -> str:
    """Return the current page's URL with its filters and ``page=number``."""
    args: dict[str, Any] = request.args.to_dict() | {"page": number}
    return url_for(request.endpoint or "core.directory", **(request.view_args or {}), **args)
