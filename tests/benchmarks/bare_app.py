"""The baseline: a bare Flask app served by the same gunicorn settings as Kaimen.

With ``BENCH_FORM_PAGE`` (a file that holds a school's complaint form as Kaimen served it,
by the form's first request) it also answers that form as a bare app would, for
``submissions.py``'s ceiling: the same page with a cookie on GET, and on POST the form
parsed and a receipt page naming the subject. Nothing is checked or stored.
"""

import functools
import html
import os
import secrets
from pathlib import Path

from flask import Flask, abort, request

app = Flask(__name__)
FORM_PAGE = os.environ.get("BENCH_FORM_PAGE")


@functools.cache
def _form_page() -> str:
    """The form's page, read at its first request: the file is written after this app
    starts, once Kaimen has served the page."""
    return Path(FORM_PAGE or "").read_text(encoding="utf-8")


@app.get("/")
def hello() -> str:
    return "hello"


@app.route("/s/<school>/complaints/", methods=["GET", "POST"])
def form(school: str) -> tuple[str, int, dict[str, str]] | str:
    if not FORM_PAGE:
        abort(404)
    if request.method == "GET":
        return (_form_page(), 200,
                {"Set-Cookie": f"session={secrets.token_urlsafe(24)}; HttpOnly; Path=/"})
    code = "-".join(f'<span class="code-group">{secrets.token_hex(2)}</span>' for _ in range(4))
    return (f"<!doctype html><title>receipt</title><dl><dt>Subject</dt>"
            f"<dd>{html.escape(request.form.get('subject', ''))}</dd></dl>"
            f'<p class="receipt-code">{code}</p>')
