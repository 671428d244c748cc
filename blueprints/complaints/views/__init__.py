"""The box's pages: ``public`` (the form and tracking), ``staff`` (the school's cases and
entry), ``bureau`` (supervision). Each view loads, checks, and acts through ``services``."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from flask import g, render_template, url_for
from markupsafe import Markup

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


class Labels(Mapping[str, Markup]):
    """A vocabulary for one page: each label is translated when first shown, then reused
    (a list of 25 cases shows the same few states and areas on every row)."""

    def __init__(self, choices: Mapping[str, Any]) -> None:
        self._choices = choices
        self._shown: dict[str, Markup] = {}

    def __getitem__(self, key: str) -> Markup:
        label = self._shown.get(key)
        if label is None:
            # Markup, as the lazy string's own ``__html__`` gave: a label is ours, not input.
            label = self._shown[key] = Markup(str(self._choices[key]))  # noqa: S704
        return label

    def __iter__(self) -> Iterator[str]:
        return iter(self._choices)

    def __len__(self) -> int:
        return len(self._choices)


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
        template, statuses=Labels(STATUSES), kinds=Labels(KINDS),
        categories=Labels(CATEGORIES), channels=Labels(CHANNELS), actions=Labels(ACTIONS),
        findings=Labels(FINDINGS), reasons=Labels(REJECTION_REASONS),
        rewards=Labels(REWARD_STATUSES),
        is_overdue=services.is_overdue, complaints_css=css, complaints_js=js, **context,
    )
