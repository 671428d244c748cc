"""The bureau's home-visit page: each school's figures this term, and their download.

Figures only: no page or file here names a student or a guardian.
"""

from __future__ import annotations

from flask import g, render_template
from werkzeug.wrappers import Response

from kaimen import Organisation, is_enabled, require, schools_under, table_response

from .. import metrics
from ..blueprint import bureau_blueprint as bp


def _schools() -> list[Organisation]:
    return [s for s in schools_under(g.bureau) if is_enabled("homevisits", s)]


@bp.get("/")
@require("bureau.view")
def schools() -> str:
    """Show coverage, in-person rate, visits per teacher and overdue follow-ups per school."""
    schools = _schools()
    term, rows, total = metrics.figures(g.bureau, schools)
    return render_template("homevisits/bureau.html", schools=schools, term=term, rows=rows,
                           total=total, percent=metrics.percent)


@bp.get("/export.csv", defaults={"fmt": "csv"})
@bp.get("/export.xlsx", defaults={"fmt": "xlsx"})
@require("bureau.view")
def export(fmt: str) -> Response:
    """Download each school's figures as Excel or CSV."""
    schools = _schools()
    _term, rows, total = metrics.figures(g.bureau, schools)
    headers = [""] + [str(c) for c in metrics.COLUMNS]
    lines = [[s.display_name(None), *metrics.cells(rows[s.id])] for s in schools]
    lines.append(["∑", *metrics.cells(total)])
    return table_response(f"homevisits-{g.bureau.slug}", headers, lines, fmt)
