"""Messages to the outbox: who hears about a case, in the bureau's language.

Nothing here sends anything: ``kaimen.notify.enqueue`` writes to the outbox in
the caller's transaction and ``flask kaimen notify`` delivers.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from typing import Any

from flask import current_app
from flask_babel import force_locale
from flask_babel import gettext as _

from kaimen import Organisation, User, holders, hook_for, notify


def _locale(school: Organisation) -> str:
    return school.bureau().default_locale or current_app.config["DEFAULT_LOCALE"]


def _send(person: Any, subject: str, body: str, school: Organisation) -> None:
    """Write to a person by e-mail when they have an address, else by text message."""
    email, phone = getattr(person, "email", None), getattr(person, "phone", None)
    if email:
        notify.enqueue(notify.EMAIL, email, body, subject=subject, school=school)
    elif phone:
        notify.enqueue(notify.SMS, phone, body, subject=subject, school=school)


def _case_url(case: Any) -> str:
    base = current_app.config["BASE_URL"].rstrip("/")
    return f"{base}/s/{case.school.slug}/complaints/cases/{case.id}"


def school_admins(school: Organisation) -> list[User]:
    """Return the active staff of ``school`` itself who handle its opinions."""
    return holders("complaints.handle", school, reach="own")


def supervisors(school: Organisation) -> list[User]:
    """Return the active people of the bureaus above ``school`` who hear of its alerts."""
    return holders("complaints.alerts", school, reach="above")


def _unique(people: Iterable[Any]) -> list[Any]:
    seen, result = set(), []
    for person in people:
        key = getattr(person, "email", None) or getattr(person, "phone", None)
        if key and key not in seen:
            seen.add(key)
            result.append(person)
    return result


def assigned(case: Any, owner: Any) -> None:
    """Tell the new person in charge that a case is theirs."""
    with force_locale(_locale(case.school)):
        subject = _("Opinion #%(id)d is assigned to you", id=case.id)
        body = _("You are now in charge of opinion #%(id)d (%(subject)s) at %(school)s. "
                 "Answer it by %(due)s: %(url)s", id=case.id, subject=case.subject,
                 school=case.school.name, due=case.answer_due.isoformat(), url=_case_url(case))
    _send(owner, subject, body, case.school)


def answered(case: Any) -> None:
    """Send the answer to a named complainant who left a contact."""
    if case.anonymous:
        return
    track_url = current_app.config["BASE_URL"].rstrip("/") + "/track"
    with force_locale(_locale(case.school)):
        subject = _("%(school)s has answered your opinion", school=case.school.name)
        body = _("Your opinion \"%(subject)s\" has been answered:\n\n%(answer)s\n\n"
                 "Follow it up and tell us whether you are satisfied with your receipt code at "
                 "%(url)s", subject=case.subject, answer=case.answer, url=track_url)
    contact = type("Contact", (), {"email": case.contact_email, "phone": case.contact_phone})
    _send(contact, subject, body, case.school)


def urged(case: Any, note: str, new_due: date) -> None:
    """Tell the person in charge and the school's administrators of an urging."""
    people = [case.owner] if case.owner is not None else []
    if not case.about_leadership:
        people += school_admins(case.school)
    with force_locale(_locale(case.school)):
        subject = _("The bureau urges opinion #%(id)d", id=case.id)
        body = _("The bureau urges opinion #%(id)d (%(subject)s). New deadline: %(due)s.\n\n"
                 "%(note)s\n\n%(url)s", id=case.id, subject=case.subject, due=new_due.isoformat(),
                 note=note, url=_case_url(case))
    for person in _unique(people):
        _send(person, subject, body, case.school)


def instructed(case: Any, text: str, leader: Any) -> None:
    """Tell the person in charge and the school's administrators of a leader's instruction."""
    people = [case.owner] if case.owner is not None else []
    if not case.about_leadership:
        people += school_admins(case.school)
    else:
        people += supervisors(case.school)
    with force_locale(_locale(case.school)):
        subject = _("A bureau leader's instruction on opinion #%(id)d", id=case.id)
        body = _("%(leader)s gave an instruction on opinion #%(id)d (%(subject)s):\n\n"
                 "%(text)s\n\n%(url)s", leader=leader.display_name, id=case.id,
                 subject=case.subject, text=text, url=_case_url(case))
    for person in _unique(people):
        _send(person, subject, body, case.school)


def dissatisfied(case: Any) -> None:
    """Tell the bureau's supervisors that a complainant is not satisfied."""
    with force_locale(_locale(case.school)):
        subject = _("A complainant is not satisfied: opinion #%(id)d", id=case.id)
        body = _("The complainant of opinion #%(id)d (%(subject)s) at %(school)s is not "
                 "satisfied with the answer. The case is open again: %(url)s", id=case.id,
                 subject=case.subject, school=case.school.name, url=_case_url(case))
    for person in _unique(supervisors(case.school)):
        _send(person, subject, body, case.school)


def overdue_recipients(case: Any) -> list[Any]:
    """Return who hears of an overdue case: the school's admins (never for a report on
    its leadership), the bureau's supervisors, and whoever other plugins add."""
    people: list[Any] = list(supervisors(case.school))
    if not case.about_leadership:
        people += school_admins(case.school)
    caller = hook_for(case.school, "kaimen_complaint_overdue_recipients")
    for group in caller(school=case.school, complaint=case):
        people += list(group or [])
    return _unique(people)


def overdue(case: Any, deadline: str, due: date) -> int:
    """Enqueue the overdue notice of one deadline of one case; return how many."""
    with force_locale(_locale(case.school)):
        what = _("acknowledgement") if deadline == "ack" else _("answer")
        subject = _("Overdue: opinion #%(id)d at %(school)s", id=case.id, school=case.school.name)
        body = _("The %(what)s of opinion #%(id)d (%(subject)s) at %(school)s was due on "
                 "%(due)s and is overdue: %(url)s", what=what, id=case.id, subject=case.subject,
                 school=case.school.name, due=due.isoformat(), url=_case_url(case))
    people = overdue_recipients(case)
    for person in people:
        _send(person, subject, body, case.school)
    return len(people)
