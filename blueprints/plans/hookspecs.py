"""The rectification plans' own hooks, for plugins that build on them."""

from __future__ import annotations

from typing import Any

from kaimen import Organisation, hookspec


@hookspec
def kaimen_plan_reviewers(school: Organisation) -> list[Any]:
    """Return extra people who follow ``school``'s plan: told when it awaits review,
    and when one of its ledger items changes status, is urged or signed off.

    Each is an object with ``email`` and/or ``phone`` attributes (a ``User`` will
    do). The school's admins and the bureau's supervisors are told anyway. A plugin
    that links bureau leaders and packaging units to schools (双联双包) answers with
    the people linked to ``school``.
    """
