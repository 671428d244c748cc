"""The password policy, and every place a password is set: admin page, /account and the CLI."""

from __future__ import annotations

import fnmatch
import tomllib
from html import unescape
from pathlib import Path

import pytest
import sqlalchemy as sa
from babel.support import Translations
from conftest import PASSWORD, login

from kaimen.auth import passwords
from kaimen.auth.models import User, find_user
from kaimen.extensions import db

ROOT = Path(__file__).resolve().parents[2]
EN = {"Accept-Language": "en"}
ZH = {"Accept-Language": "zh-CN"}
SHORT_MSGID = "The password must have at least %(num)d characters."
SHORT = SHORT_MSGID % {"num": 10}
USERNAME = "The password must not contain the username."
REPEATED = "The password must not repeat one character or a short group of characters."
SEQUENCE = "The password must not be mostly a sequence such as 1234567890 or abcdefgh."
COMMON = "This is one of the most common passwords: choose another."


def problems(app, password: str, username: str = "a1.teacher", headers=EN) -> list[str]:
    with app.test_request_context(headers=headers):
        return passwords.check(password, username)


@pytest.mark.parametrize(("password", "expected"), [
    ("short", [SHORT]),
    ("aaaaaaaaaa", [REPEATED, COMMON]),
    ("zzzzzzzzzzzzzzzz", [REPEATED]),
    ("abababababab", [REPEATED]),
    ("1231231231231", [REPEATED]),
    ("1234567890", [SEQUENCE, COMMON]),
    ("0987654321", [SEQUENCE, COMMON]),
    ("abcdefghijkl", [SEQUENCE]),
    ("ABCDEFGHIJ12", [SEQUENCE]),
    ("qwertyuiop99", [SEQUENCE]),
    ("12345678abcdefgh", [SEQUENCE]),
    ("password12", [COMMON]),
    ("PASSWORD12", [COMMON]),
    ("a1.teacher", [USERNAME]),
    ("my A1.Teacher password", [USERNAME]),
])
def test_weak_passwords_are_refused_with_every_reason(app, password, expected):
    assert problems(app, password) == expected


@pytest.mark.parametrize("password", [
    PASSWORD,
    "kaimen-demo-2026",  # the demo accounts' password (see README: Accounts)
    "mycat-abcd-2026",  # a short run inside a longer password is fine
    "Tr0ub4dor&3x",
    "春眠不觉晓处处闻啼鸟",
])
def test_reasonable_passwords_are_accepted(app, password):
    assert problems(app, password) == []


def test_problems_are_translated(app):
    catalogue = Translations.load(str(ROOT / "translations"), ["zh_Hans"])
    found = problems(app, "aaaaaaaaaa", headers=ZH)
    assert found == [catalogue.gettext(REPEATED), catalogue.gettext(COMMON)]
    assert all(text != msgid for text, msgid in zip(found, [REPEATED, COMMON], strict=True))


def test_the_common_list_ships_in_the_package_and_is_read_once():
    common = passwords.common_passwords()
    assert len(common) == 10_000
    assert {"123456", "password", "iloveyou", "password12"} <= common
    assert all(entry == entry.lower() for entry in common)
    assert passwords.common_passwords() is common
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    patterns = config["tool"]["setuptools"]["package-data"]["kaimen.auth"]
    for name in ("common-passwords.txt", "common-passwords.NOTICE"):
        assert any(fnmatch.fnmatch(name, pattern) for pattern in patterns), name


# --- where passwords are set -----------------------------------------------------------


def user_count() -> int:
    db.session.expire_all()
    return db.session.scalar(sa.select(sa.func.count()).select_from(User))


@pytest.mark.parametrize(("password", "message"), [
    ("1234567890", SEQUENCE),
    ("password12", COMMON),
    ("new.person-2026", USERNAME),
])
def test_admin_page_refuses_a_weak_initial_password(client, county, ctx, password, message):
    login(client, "a1.admin")
    before = user_count()
    response = client.post("/s/a1/admin/users", headers=EN, data={
        "username": "new.person", "display_name": "新同事", "password": password,
        "role": "teacher", "org": str(county.a1.id),
    })
    assert response.status_code == 200
    assert message in unescape(response.get_data(as_text=True))
    assert user_count() == before
    assert find_user("new.person") is None


def test_admin_page_message_is_translated(client, county, ctx):
    login(client, "a1.admin")
    response = client.post("/s/a1/admin/users", headers=ZH, data={
        "username": "new.person", "display_name": "新同事", "password": "password12",
        "role": "teacher", "org": str(county.a1.id),
    })
    text = Translations.load(str(ROOT / "translations"), ["zh_Hans"]).gettext(COMMON)
    assert text != COMMON
    assert text in unescape(response.get_data(as_text=True))


@pytest.mark.parametrize(("password", "message"), [
    ("aaaaaaaaaa", REPEATED),
    ("1234567890", SEQUENCE),
    ("password12", COMMON),
    ("a1.teacher-new-one", USERNAME),
])
def test_account_page_refuses_a_weak_new_password(client, county, ctx, password, message):
    login(client, "a1.teacher")
    before = find_user("a1.teacher").password_hash
    response = client.post("/account", headers=EN, data={
        "pw-current": PASSWORD, "pw-new": password, "pw-confirm": password,
    })
    assert response.status_code == 200
    assert message in unescape(response.get_data(as_text=True))
    db.session.expire_all()
    assert find_user("a1.teacher").password_hash == before


def _create_with_cli(app, password: str):
    return app.test_cli_runner().invoke(
        args=["kaimen", "users", "create", "cli.person", "--name", "命令行",
              "--role", "teacher", "--org", "a1"],
        input=f"{password}\n",
    )


@pytest.mark.parametrize(("password", "message"), [
    ("short", SHORT_MSGID), ("aaaaaaaaaa", REPEATED), ("1234567890", SEQUENCE),
    ("password12", COMMON), ("cli.person-2026", USERNAME),
])
def test_cli_refuses_a_weak_password_and_creates_nothing(app, county, ctx, password, message):
    before = user_count()
    result = _create_with_cli(app, password)
    assert result.exit_code != 0
    # in the default language, as there is no request to choose another
    catalogue = Translations.load(str(ROOT / "translations"), [app.config["DEFAULT_LOCALE"]])
    text = catalogue.gettext(message)
    assert (text % {"num": 10} if message == SHORT_MSGID else text) in result.output
    assert user_count() == before
    assert find_user("cli.person") is None


def test_cli_accepts_a_good_password(app, county, ctx):
    result = _create_with_cli(app, "a sound cli password")
    assert result.exit_code == 0, result.output
    db.session.expire_all()
    assert find_user("cli.person").check_password("a sound cli password")
