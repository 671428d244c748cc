"""A school's public pledge pages: the board, one pledge, its history, the gate poster."""

from __future__ import annotations

from typing import Any

from flask import current_app, g, render_template, request, url_for
from flask_login import current_user

from kaimen import Organisation, cached_page, db, public

from .. import services
from ..blueprint import school_blueprint
from ..forms import SignForm
from ..models import ETHICS, Pledge

POSTER_SIZES = ("a4", "a3")


def _board_context(school: Organisation, pledges: list[Pledge]) -> dict[str, Any]:
    return {
        "school": school,
        "pledges": pledges,
        "report_links": services.report_links(school, pledges),
        "report_counts": services.report_counts(school, [p.reference for p in pledges]),
        "current_year": services.current_school_year(),
    }


def _school_page_url() -> str:
    path = url_for("core.school_home", school=g.school.slug)
    return services.public_url(current_app.config["BASE_URL"], path)


@school_blueprint.get("/")
@public
@cached_page
def board() -> str:
    """Show the school's public pledge board."""
    return render_template("pledges/board.html",
                           **_board_context(g.school, services.school_pledges()))


@school_blueprint.get("/<int:pledge_id>")
@public
@cached_page
def show(pledge_id: int) -> str:
    """Show one pledge with its progress updates and signatures."""
    pledge = db.get_or_404(Pledge, pledge_id)
    sign_form = SignForm() if pledge.kind == ETHICS and pledge.is_active else None
    signed = any(s.user_id == getattr(current_user, "id", None) for s in pledge.signatures)
    return render_template("pledges/show.html", sign_form=sign_form, signed=signed,
                           pledge=pledge, **_board_context(g.school, [pledge]))


@school_blueprint.get("/<int:pledge_id>/history")
@public
def history(pledge_id: int) -> str:
    """Show every version of a pledge's text, oldest first."""
    pledge = db.get_or_404(Pledge, pledge_id)
    return render_template("pledges/history.html", pledge=pledge, owner=g.school,
                           back=url_for(".show", pledge_id=pledge.id))


@school_blueprint.get("/poster")
@public
def poster() -> str:
    """Show the printable gate poster (``?size=a3`` for A3) with a QR code."""
    size = request.args.get("size", "a4").lower()
    if size not in POSTER_SIZES:
        size = "a4"
    year = services.current_school_year()
    base_url = current_app.config["BASE_URL"]
    box_url, box_address = services.board_report_link(g.school, base_url)
    pledges, more = services.poster_sheet(services.poster_pledges(year))
    return render_template(
        "pledges/poster.html", school=g.school, size=size, pledges=pledges, more=more,
        board_url=services.public_url(base_url, url_for(".board")),
        columns=len(pledges) > services.POSTER_COLUMNS_FROM, shorten=services.shorten,
        title_max=services.POSTER_TITLE, text_max=services.POSTER_TEXT,
        year=year, box_url=box_url, box_address=box_address, page_url=_school_page_url(),
        bureau=g.school.bureau(), sizes=POSTER_SIZES,
    )


@school_blueprint.get("/qr.png")
@public
def qr_code() -> Any:
    """Return the QR code of the school's public page as a PNG."""
    response = current_app.response_class(services.qr_png(_school_page_url()),
                                          mimetype="image/png")
    response.headers["Cache-Control"] = "public, max-age=3600"
    return response
