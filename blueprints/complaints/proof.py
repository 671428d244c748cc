"""The proof of filing as a PDF file, for phones whose in-app browser cannot print.

Drawn with reportlab and its built-in CID font ``STSong-Light``, which a PDF viewer
supplies itself: no font file ships with Kaimen, and Chinese text renders everywhere.
"""

from __future__ import annotations

import io
from typing import Any
from xml.sax.saxutils import escape

from flask_babel import format_date, format_datetime
from flask_babel import gettext as _
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from .choices import CATEGORIES, KINDS
from .models import Complaint

FONT = "STSong-Light"


def _font() -> str:
    if FONT not in pdfmetrics.getRegisteredFontNames():
        pdfmetrics.registerFont(UnicodeCIDFont(FONT))
    return FONT


def _style(size: float, leading: float | None = None, **values: Any) -> ParagraphStyle:
    return ParagraphStyle(f"proof-{size}", fontName=_font(), fontSize=size,
                          leading=leading or size * 1.45, wordWrap="CJK", **values)


def _text(value: Any, style: ParagraphStyle) -> Paragraph:
    return Paragraph(escape(str(value)).replace("\n", "<br/>"), style)


def proof_pdf(case: Complaint, code: str, school_name: str, track_url: str) -> bytes:
    """Return the proof of filing of ``case`` with its receipt ``code`` as PDF bytes."""
    body, small = _style(10.5), _style(8.5)
    rows = [
        (_("School"), school_name),
        (_("Received on"), format_datetime(case.created_at, "medium")),
        (_("Kind"), KINDS[case.kind]),
        (_("Area"), CATEGORIES[case.category]),
        (_("Subject"), case.subject),
        (_("What was sent"), case.description),
        (_("Sent as"), _("Anonymous") if case.anonymous else _("Named")),
        (_("Files"), len(case.attachments)),
        (_("Acknowledgement due"), format_date(case.ack_due, "long")),
        (_("Answer due"), format_date(case.answer_due, "long")),
        (_("Fingerprint of what you sent"), f"SHA-256 {case.content_digest}"),
    ]
    table = Table([[_text(label, small), _text(value, body)] for label, value in rows],
                  colWidths=[38 * mm, 132 * mm])
    table.setStyle(TableStyle([("VALIGN", (0, 0), (-1, -1), "TOP"),
                               ("LINEBELOW", (0, 0), (-1, -1), 0.25, "#999999"),
                               ("BOTTOMPADDING", (0, 0), (-1, -1), 5)]))
    story = [
        _text(_("Proof of filing"), _style(18, spaceAfter=6)),
        _text(_("Your receipt code:"), body),
        _text(code, _style(20, 28, spaceBefore=4, spaceAfter=8)),
        _text(_("Keep this code: it is the only way to follow up your opinion, at %(url)s",
                url=track_url), body),
        Spacer(1, 6 * mm),
        table,
    ]
    buffer = io.BytesIO()
    document = SimpleDocTemplate(buffer, pagesize=A4, title=_("Proof of filing"),
                                 leftMargin=20 * mm, rightMargin=20 * mm,
                                 topMargin=18 * mm, bottomMargin=18 * mm)
    document.build(story)
    return buffer.getvalue()
