"""The box's pages: ``public`` (the form and tracking), ``staff`` (the school's cases and
entry), ``bureau`` (supervision). Each view loads, checks, and acts through ``services``."""

from __future__ import annotations

from typing import Any

from flask import g, render_template, url_for

from .. import services
from ..choices import (
    ACTIONS,
    CATEGORIES,
    CHANNELS,
    FINDINGS,
    KINDS,
    REJECTION_REASONS,
    REWARD_STATUSES,
    STATUSES,
)


def render(template: str, **context: Any) -> str:
    """Render a template of the box with its vocabularies at hand."""
    school = context.get("school") or g.get("school")
    if school is not None:
        css = url_for("complaints.static", school=school.slug, filename="complaints.css")
        js = url_for("complaints.static", school=school.slug, filename="complaints.js")
    else:
        css = url_for("complaints_bureau.static", bureau=g.bureau.slug, filename="complaints.css")
        js = url_for("complaints_bureau.static", bureau=g.bureau.slug, filename="complaints.js")
    return render_template(
        template, statuses=STATUSES, kinds=KINDS, categories=CATEGORIES, channels=CHANNELS,
        actions=ACTIONS, findings=FINDINGS, reasons=REJECTION_REASONS, rewards=REWARD_STATUSES,
        is_overdue=services.is_overdue, complaints_css=css, complaints_js=js, **context,
    )
