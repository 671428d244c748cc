"""What parents are told, through the outbox: a seat came free, the event moved or was cancelled.

A mainland mobile number gets a text message, an e-mail address a mail; each is written
in the bureau's language, since the reader is not the person whose request sent it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy as sa
from flask_babel import force_locale
from flask_babel import gettext as _

from kaimen import Organisation, db, notify
from kaimen.forms import is_mobile_phone

from .models import CONFIRMED, WAITLISTED, OpenDay, Registration
from .times import to_local


@contextmanager
def _bureau_locale(school: Organisation) -> Iterator[None]:
    # The recipient is not the person making the request: write in the bureau's language.
    with force_locale(school.bureau().default_locale or "zh_Hans"):
        yield


def _when(event: OpenDay) -> str:
    starts, ends = to_local(event.starts_at, event.school), to_local(event.ends_at, event.school)
    assert starts is not None
    assert ends is not None
    end = ends.strftime("%H:%M") if ends.date() == starts.date() else ends.strftime(
        "%Y-%m-%d %H:%M")
    return f"{starts:%Y-%m-%d %H:%M}–{end}"


def _message(registration: Registration, what: str) -> tuple[str, str]:
    event, school = registration.open_day, registration.open_day.school
    values = {"title": event.title, "school": school.name, "when": _when(event),
              "place": event.place, "name": registration.name}
    if what == "promoted":
        return (_("A seat for you: %(title)s", **values),
                _("%(name)s, a seat has become free for you at %(title)s (%(school)s), "
                  "%(when)s, %(place)s. Your registration is confirmed.", **values))
    if what == "cancelled":
        return (_("Cancelled: %(title)s", **values),
                _("%(name)s, %(school)s has cancelled %(title)s (%(when)s). Reason: %(reason)s",
                  reason=event.cancel_reason or "", **values))
    return (_("Changed: %(title)s", **values),
            _("%(name)s, %(title)s (%(school)s) now takes place %(when)s at %(place)s.",
              **values))


def tell(registration: Registration, what: str) -> None:
    school = registration.open_day.school
    with _bureau_locale(school):
        subject, body = _message(registration, what)
    if is_mobile_phone(registration.phone):
        notify.enqueue(notify.SMS, registration.phone, body, subject=subject, school=school)
    if registration.email:
        notify.enqueue(notify.EMAIL, registration.email, body, subject=subject, school=school)


def tell_everyone(event: OpenDay, what: str) -> None:
    for registration in db.session.scalars(
        sa.select(Registration)
        .where(Registration.open_day_id == event.id,
               Registration.status.in_((CONFIRMED, WAITLISTED)))
        .order_by(Registration.id)
    ):
        tell(registration, what)
