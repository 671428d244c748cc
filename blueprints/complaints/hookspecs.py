"""The complaint box's own hooks, for plugins that build on it."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from kaimen import Organisation, hookspec

if TYPE_CHECKING:
    from .models import Complaint


@hookspec
def kaimen_complaint_overdue_recipients(school: Organisation, complaint: Complaint) -> list[Any]:
    """Return extra people to tell that ``complaint`` of ``school`` is overdue.

    Each is an object with ``email`` and/or ``phone`` attributes (a ``User`` will
    do); e-mail is used when present, else a text message. The school's admins
    and the bureau's supervisors are told anyway. A plugin that links bureau
    leaders or units to schools answers with the people linked to ``school``.
    For a report about the school's own leadership (``complaint.about_leadership``)
    return nobody who works at that school.
    """


@hookspec(firstresult=True)
def kaimen_complaint_file_opinion(
    school: Any, subject: str, text: str, channel: str, actor: Any
) -> str | None:
    """File an opinion another plugin heard from a parent; return the staff link of its case.

    ``channel`` is one of the box's channels (``"home_visit"`` for the home-visit
    book); ``actor`` is the staff member who hands it on. The case is entered as
    staff enter a paper or phone opinion: anonymous, no receipt shown to anyone.
    Put no student's or guardian's name in ``subject``.
    """


@hookspec
def kaimen_complaint_cases(
    school: Organisation, ids: list[int]
) -> list[tuple[int, str, Any, bool, str]]:
    """Return ``(id, subject, status label, finished, staff url)`` of ``school``'s cases in ``ids``.

    ``finished`` is True for a closed case or one not accepted. Ids that are not
    cases of ``school`` (or reports about its leadership) are left out. For staff
    pages only: a subject may name the complainant, so public pages show none.
    """


@hookspec
def kaimen_complaint_choices(school: Organisation) -> list[tuple[int, str]]:
    """Return ``(id, subject)`` of ``school``'s cases, newest first, for a staff picker."""
