"""Administration: creating and disabling accounts, editing profiles, and their audit trail."""

from __future__ import annotations

import re
from html import unescape
from pathlib import Path

import pytest
import sqlalchemy as sa
from babel.support import Translations

from kaimen.audit import AuditEvent
from kaimen.auth.models import RoleGrant, User, find_user
from kaimen.extensions import db
from kaimen.orgs import Organisation

ROOT = Path(__file__).resolve().parents[2]
EN = {"Accept-Language": "en"}
ZH = {"Accept-Language": "zh-CN"}
BAD_PHONE = "Enter a telephone number: digits, spaces, + and -."


def assert_translated(response, msgid: str) -> None:
    """The page is Chinese, with the zh_Hans translation of ``msgid`` once it has one."""
    body = unescape(response.get_data(as_text=True))
    assert '<html lang="zh-Hans">' in body
    text = Translations.load(str(ROOT / "translations"), ["zh_Hans"]).gettext(msgid)
    if text != msgid:
        assert text in body


def select_options(page: str, name: str) -> list[str]:
    match = re.search(rf'<select[^>]*name="{name}"[^>]*>(.*?)</select>', page, re.S)
    assert match, f"no <select name={name}>"
    return re.findall(r'<option[^>]*value="([^"]*)"', match.group(1))


def events(action: str) -> list[AuditEvent]:
    db.session.expire_all()
    return list(db.session.scalars(sa.select(AuditEvent).where(AuditEvent.action == action)
                                   .order_by(AuditEvent.id)))


def new_user(org_id, role="teacher", username="new.person", **extra):
    return {"username": username, "display_name": "新同事", "email": "new@example.cn",
            "password": "a good long password", "role": role, "org": str(org_id), **extra}


def user_count() -> int:
    db.session.expire_all()
    return db.session.scalar(sa.select(sa.func.count()).select_from(User))


# --- school administrators --------------------------------------------------------------


def test_school_admin_is_offered_only_the_teacher_role_in_their_school(as_user, county):
    page = as_user("a1.admin").get("/s/a1/admin/users").get_data(as_text=True)
    assert select_options(page, "role") == ["teacher"]
    assert select_options(page, "org") == [str(county.a1.id)]
    assert "a1.teacher" in page
    assert "b1.admin" not in page


def test_school_admin_creates_a_teacher(as_user, county, ctx):
    client = as_user("a1.admin")
    response = client.post("/s/a1/admin/users", data=new_user(county.a1.id), headers=EN)
    assert response.status_code == 302
    user = find_user("new.person")
    assert user is not None
    assert user.active
    assert user.check_password("a good long password")
    assert [(g.role, g.org_id, g.unit_id) for g in user.grants] == [("teacher", county.a1.id, None)]
    (event,) = events("user.created")
    assert event.object_id == str(user.id)
    assert event.school_id == county.a1.id
    assert event.bureau_id == county.a.id
    assert event.actor_name == "a1.admin"
    assert event.data == {"role": "teacher", "org": "a1"}
    assert "new.person" in client.get("/s/a1/admin/users").get_data(as_text=True)


@pytest.mark.parametrize(("role", "org"), [
    ("school_admin", "a1"),   # a role the school admin cannot give
    ("teacher", "a2"),        # a forged id of another school
    ("teacher", "b1"),        # ... of another county
    ("supervisor", "a"),      # a bureau role on the bureau
])
def test_school_admin_cannot_grant_beyond_their_right(as_user, county, ctx, role, org):
    target = {"a1": county.a1, "a2": county.a2, "b1": county.b1, "a": county.a}[org]
    before = user_count()
    response = as_user("a1.admin").post("/s/a1/admin/users", data=new_user(target.id, role=role),
                                        headers=EN)
    assert response.status_code == 200
    body = response.get_data(as_text=True)
    assert 'class="error"' in body
    assert "Please correct the marked fields." in body
    assert user_count() == before
    assert find_user("new.person") is None
    assert events("user.created") == []


def test_teacher_cannot_manage_accounts(as_user, county):
    client = as_user("a1.teacher")
    assert client.get("/s/a1/admin/users").status_code == 403
    assert client.post("/s/a1/admin/users", data=new_user(county.a1.id)).status_code == 403


def test_school_admin_cannot_manage_another_school(as_user, county, ctx):
    client = as_user("a1.admin")
    assert client.get("/s/a2/admin/users").status_code == 404
    assert client.post("/s/a2/admin/users", data=new_user(county.a2.id)).status_code == 404
    assert find_user("new.person") is None


def test_duplicate_username_is_refused_and_the_input_kept(as_user, county, ctx):
    before = user_count()
    data = new_user(county.a1.id, username="A1.Teacher") | {"display_name": "重名的人"}
    response = as_user("a1.admin").post("/s/a1/admin/users", data=data, headers=EN)
    assert response.status_code == 200
    body = response.get_data(as_text=True)
    assert "That username is taken." in body
    assert 'value="A1.Teacher"' in body
    assert 'value="重名的人"' in body
    assert 'value="new@example.cn"' in body
    assert user_count() == before
    assert events("user.created") == []


def test_duplicate_username_message_is_translated(as_user, county):
    response = as_user("a1.admin").post("/s/a1/admin/users", headers=ZH,
                                        data=new_user(county.a1.id, username="a1.teacher"))
    assert_translated(response, "That username is taken.")


@pytest.mark.parametrize(("field", "value", "message"), [
    ("username", "bad name!", "Use only letters, digits, dots, dashes and underscores."),
    ("password", "short", "The password must have at least 10 characters."),
    ("email", "not-an-address", "Enter a valid e-mail address."),
    ("display_name", "", "Enter the person's name."),
])
def test_new_user_fields_are_validated(as_user, county, ctx, field, value, message):
    before = user_count()
    data = new_user(county.a1.id) | {field: value}
    response = as_user("a1.admin").post("/s/a1/admin/users", data=data, headers=EN)
    assert response.status_code == 200
    assert message in unescape(response.get_data(as_text=True))
    assert user_count() == before


def test_school_admin_disables_and_enables_a_teacher(as_user, county, ctx):
    client = as_user("a1.admin")
    teacher = county.users["a1.teacher"]
    url = f"/s/a1/admin/users/{teacher.id}/active"
    assert client.post(url, data={"active": "0"}).status_code == 302
    db.session.expire_all()
    assert db.session.get(User, teacher.id).active is False
    assert client.post("/login", data={"username": "x", "password": "y"}).status_code == 200
    assert client.post(url, data={"active": "1"}).status_code == 302
    db.session.expire_all()
    assert db.session.get(User, teacher.id).active is True
    assert [e.object_id for e in events("user.disabled")] == [str(teacher.id)]
    assert [e.object_id for e in events("user.enabled")] == [str(teacher.id)]
    assert events("user.disabled")[0].school_id == county.a1.id


def test_school_admin_cannot_disable_bureau_or_fellow_admin_accounts(as_user, county, make, ctx):
    # A teacher of a1 who is also a supervisor of the bureau is a bureau user.
    both = make.user("both.roles", "teacher", county.a1)
    both.grants.append(RoleGrant(role="supervisor", org_id=county.a.id))
    fellow = make.user("a1.admin2", "school_admin", county.a1)
    db.session.commit()
    client = as_user("a1.admin")
    page = client.get("/s/a1/admin/users").get_data(as_text=True)
    assert f"/s/a1/admin/users/{county.users['a1.teacher'].id}/active" in page
    targets = [county.users["a.admin"], county.users["a2.admin"], both, fellow,
               county.users["a1.admin"]]
    for user in targets:
        assert f"/admin/users/{user.id}/active" not in page
        assert client.post(f"/s/a1/admin/users/{user.id}/active",
                           data={"active": "0"}).status_code == 404
    db.session.expire_all()
    assert all(db.session.get(User, u.id).active for u in targets)
    assert events("user.disabled") == []


# --- bureau administrators ----------------------------------------------------------------


def test_bureau_admin_is_offered_the_bureau_and_its_schools(as_user, county):
    page = as_user("a.admin").get("/b/county-a/admin/users").get_data(as_text=True)
    assert sorted(select_options(page, "role")) == sorted(
        ["school_admin", "teacher", "bureau_admin", "supervisor", "leader", "unit_staff"])
    assert sorted(select_options(page, "org")) == sorted(
        str(o.id) for o in (county.a, county.a1, county.a2))
    assert str(county.unit.id) in select_options(page, "unit")


@pytest.mark.parametrize(("role", "org", "unit"), [
    ("supervisor", "a", False),
    ("leader", "a", False),
    ("bureau_admin", "a", False),
    ("unit_staff", "a", True),
    ("school_admin", "a2", False),
    ("teacher", "a1", False),
])
def test_bureau_admin_creates_users_for_the_bureau_and_its_schools(as_user, county, ctx,
                                                                   role, org, unit):
    target = {"a": county.a, "a1": county.a1, "a2": county.a2}[org]
    data = new_user(target.id, role=role, unit=str(county.unit.id) if unit else "")
    response = as_user("a.admin").post("/b/county-a/admin/users", data=data, headers=EN)
    assert response.status_code == 302
    user = find_user("new.person")
    assert [(g.role, g.org_id, g.unit_id) for g in user.grants] == [
        (role, target.id, county.unit.id if unit else None)]
    (event,) = events("user.created")
    assert event.bureau_id == county.a.id
    assert event.school_id == (target.id if target.is_school else None)


@pytest.mark.parametrize("unit", ["", "999999", "other-bureau"])
def test_unit_staff_needs_a_unit_of_the_bureau(as_user, county, make, ctx, unit):
    if unit == "other-bureau":
        unit = str(make.unit("elsewhere", county.b).id)
        db.session.commit()
    before = user_count()
    data = new_user(county.a.id, role="unit_staff", unit=unit)
    response = as_user("a.admin").post("/b/county-a/admin/users", data=data, headers=EN)
    assert response.status_code == 200
    assert "Choose the unit this person works in." in response.get_data(as_text=True)
    assert 'value="new.person"' in response.get_data(as_text=True)
    assert user_count() == before


@pytest.mark.parametrize(("role", "org"), [("teacher", "a"), ("supervisor", "a1"),
                                           ("teacher", "b1"), ("supervisor", "b")])
def test_bureau_admin_cannot_give_roles_in_the_wrong_place(as_user, county, ctx, role, org):
    target = {"a": county.a, "a1": county.a1, "b": county.b, "b1": county.b1}[org]
    before = user_count()
    response = as_user("a.admin").post("/b/county-a/admin/users",
                                       data=new_user(target.id, role=role), headers=EN)
    assert response.status_code == 200
    assert 'class="error"' in response.get_data(as_text=True)
    assert user_count() == before


def test_bureau_admin_disables_a_school_user_but_not_another_countys(as_user, county, ctx):
    client = as_user("a.admin")
    a2_admin, b1_admin = county.users["a2.admin"], county.users["b1.admin"]
    assert client.post(f"/b/county-a/admin/users/{a2_admin.id}/active",
                       data={"active": "0"}).status_code == 302
    assert client.post(f"/b/county-a/admin/users/{b1_admin.id}/active",
                       data={"active": "0"}).status_code == 404
    assert client.post(f"/b/county-a/admin/users/{county.users['a.admin'].id}/active",
                       data={"active": "0"}).status_code == 404  # not oneself
    db.session.expire_all()
    assert db.session.get(User, a2_admin.id).active is False
    assert db.session.get(User, b1_admin.id).active is True
    (event,) = events("user.disabled")
    assert event.bureau_id == county.a.id
    assert event.school_id is None


def test_supervisor_cannot_manage_accounts(as_user, county):
    client = as_user("a.supervisor")
    assert client.get("/b/county-a/admin/users").status_code == 403
    assert client.post(f"/b/county-a/admin/users/{county.users['a1.teacher'].id}/active",
                       data={"active": "0"}).status_code == 403


# --- profiles ------------------------------------------------------------------------------


def profile(org, **changes):
    values = {f: getattr(org, f) or "" for f in ("name", "name_en", "address", "phone",
                                                 "hotline", "email")}
    return values | changes


def test_school_profile_edit_shows_on_the_public_page(as_user, county, ctx):
    client = as_user("a1.admin")
    response = client.post("/s/a1/admin/", data=profile(county.a1, hotline="0715-6123456",
                                                        address="鱼岳镇一号"))
    assert response.status_code == 302
    page = client.get("/s/a1/").get_data(as_text=True)
    assert "0715-6123456" in page
    assert "鱼岳镇一号" in page
    db.session.expire_all()
    school = db.session.get(Organisation, county.a1.id)
    assert school.hotline == "0715-6123456"
    (event,) = events("org.profile_changed")
    assert event.object_id == str(county.a1.id)
    assert event.school_id == county.a1.id
    assert event.data == {"fields": ["address", "hotline"]}
    assert event.actor_name == "a1.admin"


def test_saving_an_unchanged_profile_records_nothing(as_user, county, ctx):
    assert as_user("a1.admin").post("/s/a1/admin/", data=profile(county.a1)).status_code == 302
    assert events("org.profile_changed") == []


@pytest.mark.parametrize("headers", [EN, ZH])
def test_invalid_phone_is_refused_with_the_input_kept(as_user, county, ctx, headers):
    county.a1.hotline = "0715-1111111"
    db.session.commit()
    response = as_user("a1.admin").post("/s/a1/admin/", headers=headers, data=profile(
        county.a1, hotline="call me maybe", address="新地址"))
    assert response.status_code == 200
    body = unescape(response.get_data(as_text=True))
    if headers is EN:
        assert BAD_PHONE in body
    else:
        assert_translated(response, BAD_PHONE)
    assert 'value="call me maybe"' in body
    assert 'value="新地址"' in body
    db.session.expire_all()
    school = db.session.get(Organisation, county.a1.id)
    assert school.hotline == "0715-1111111"
    assert school.address is None
    assert events("org.profile_changed") == []


def test_profile_name_is_required(as_user, county, ctx):
    response = as_user("a1.admin").post("/s/a1/admin/", data=profile(county.a1, name=""),
                                        headers=EN)
    assert response.status_code == 200
    assert "Enter the name." in response.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(Organisation, county.a1.id).name == "a1学校"


def test_profile_edit_is_guarded(as_user, county):
    assert as_user("a1.teacher").post("/s/a1/admin/", data={"name": "x"}).status_code == 403
    assert as_user("a2.admin").post("/s/a1/admin/", data={"name": "x"}).status_code == 404


def test_bureau_admin_edits_the_bureau_profile(as_user, county, ctx):
    client = as_user("a.admin")
    response = client.post("/b/county-a/admin/", data=profile(
        county.a, hotline="0715-6000012", email="xingping@county-a.example.cn"))
    assert response.status_code == 302
    page = client.get("/b/county-a/").get_data(as_text=True)
    assert "0715-6000012" in page
    assert "xingping@county-a.example.cn" in page
    db.session.expire_all()
    bureau = db.session.get(Organisation, county.a.id)
    assert bureau.hotline == "0715-6000012"
    (event,) = events("org.profile_changed")
    assert event.bureau_id == county.a.id
    assert event.school_id is None
    assert event.data == {"fields": ["email", "hotline"]}


def test_bureau_profile_is_for_bureau_admins(as_user, county):
    assert as_user("a.supervisor").get("/b/county-a/admin/").status_code == 403
    client = as_user("b1.admin")
    assert client.post("/b/county-a/admin/", data={"name": "x"}).status_code == 404


def test_bureau_admin_may_edit_a_school_profile(as_user, county, ctx):
    client = as_user("a.admin")
    response = client.post("/s/a2/admin/", data=profile(county.a2, phone="0715 600 0000"))
    assert response.status_code == 302
    db.session.expire_all()
    assert db.session.get(Organisation, county.a2.id).phone == "0715 600 0000"
    (event,) = events("org.profile_changed")
    assert event.actor_name == "a.admin"
    assert event.school_id == county.a2.id


def test_admin_changes_keep_the_audit_chain_intact(as_user, county, ctx):
    from kaimen import audit

    client = as_user("a.admin")
    client.post("/b/county-a/admin/users", data=new_user(county.a1.id, role="teacher"))
    client.post("/s/a1/admin/", data=profile(county.a1, hotline="0715-222"))
    teacher_id = county.users["a1.teacher"].id
    client.post(f"/b/county-a/admin/users/{teacher_id}/active", data={"active": "0"})
    db.session.expire_all()
    logged = db.session.scalars(sa.select(AuditEvent).where(AuditEvent.bureau_id == county.a.id)
                                .order_by(AuditEvent.chain_id, AuditEvent.seq)).all()
    actions = [e.action for e in logged]
    for action in ("user.created", "org.profile_changed", "user.disabled"):
        assert action in actions
    (profile_changed,) = (e for e in logged if e.action == "org.profile_changed")
    assert profile_changed.chain_id == county.a1.id  # the school's change, in its chain
    for chain_id in {e.chain_id for e in logged}:
        chain = [e.seq for e in logged if e.chain_id == chain_id]
        assert chain == list(range(1, len(chain) + 1))
    assert audit.verify() == []
