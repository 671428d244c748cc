"""Provisioning from tenants TOML files: complete, idempotent, precise and all-or-nothing."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
import sqlalchemy as sa

from kaimen import audit, orgs, plugins, provisioning
from kaimen.audit import AuditEvent, AuditHead
from kaimen.auth.models import RoleGrant, User, find_user
from kaimen.extensions import db
from kaimen.orgs import Organisation, Unit
from kaimen.plugins import PluginSetting
from kaimen.provisioning import TenantFileError

JIAYU = Path(__file__).resolve().parents[2] / "tenants" / "jiayu.toml"
DEMO_PASSWORD = "demo password for tests"


def jiayu_document() -> dict:
    """Return the demo county's tenants file as data, to count what it should create."""
    return tomllib.loads(JIAYU.read_text(encoding="utf-8"))


@pytest.fixture(autouse=True)
def no_demo_password(monkeypatch):
    monkeypatch.delenv("KAIMEN_DEMO_PASSWORD", raising=False)


def counts() -> dict[str, int]:
    db.session.expire_all()
    return {
        model.__name__: db.session.scalar(sa.select(sa.func.count()).select_from(model))
        for model in (Organisation, Unit, User, RoleGrant, PluginSetting, AuditEvent)
    }


def snapshot() -> dict:
    """Every provisioned value, to compare before and after a load."""
    db.session.expire_all()
    org_columns = (
        "kind",
        "name",
        "name_en",
        "parent_id",
        "address",
        "phone",
        "hotline",
        "email",
        "timezone",
        "default_locale",
    )
    return {
        "orgs": {
            o.slug: tuple(getattr(o, c) for c in org_columns)
            for o in db.session.scalars(sa.select(Organisation))
        },
        "units": {
            (u.bureau_id, u.slug): (u.name, u.name_en, u.kind)
            for u in db.session.scalars(sa.select(Unit))
        },
        "users": {
            u.username: (
                u.display_name,
                u.email,
                u.phone,
                u.active,
                u.password_hash,
                sorted((g.role, g.org.slug, g.unit.slug if g.unit else None) for g in u.grants),
            )
            for u in db.session.scalars(sa.select(User))
        },
        "plugins": sorted(
            (s.org_id, s.plugin, s.enabled) for s in db.session.scalars(sa.select(PluginSetting))
        ),
    }


def chain_length(slug: str) -> int:
    bureau = orgs.find(slug, orgs.BUREAU)
    head = db.session.get(AuditHead, bureau.id)
    db.session.refresh(head)
    return head.seq


def test_loading_jiayu_creates_the_county(ctx):
    report = provisioning.load(JIAYU, demo_password=DEMO_PASSWORD)
    db.session.commit()
    city = orgs.find("xianning", orgs.BUREAU)
    county = orgs.find("jiayu", orgs.BUREAU)
    assert city.name == "咸宁市教育局"
    assert city.parent is None
    assert county.name == "嘉鱼县教育局"
    assert county.parent_id == city.id
    assert county.hotline == "0715-6000012"
    assert county.timezone == "Asia/Shanghai"
    units = db.session.scalars(sa.select(Unit).where(Unit.bureau_id == county.id)).all()
    kinds = {u.slug: u.kind for u in units}
    assert len(kinds) == 9
    assert kinds["renshigu"] == orgs.DEPARTMENT
    assert kinds["jiaoyanshi"] == orgs.SUBORDINATE
    assert sorted(set(kinds.values())) == [orgs.DEPARTMENT, orgs.SUBORDINATE]
    schools = orgs.schools_under(county)
    assert len(schools) == 13
    assert {s.parent_id for s in schools} == {county.id}
    primary = orgs.find("shiyan-xiaoxue", orgs.SCHOOL)
    assert primary.name == "嘉鱼县实验小学"
    assert primary.hotline == "0715-6100012"
    assert [s.slug for s in orgs.schools_under(city)] == [s.slug for s in schools]
    users = db.session.scalars(sa.select(User)).all()
    assert len(users) == len(jiayu_document()["user"])
    unit_staff = find_user("unit.jiaoyan")
    (grant,) = unit_staff.grants
    assert (grant.role, grant.org_id, grant.unit.slug) == ("unit_staff", county.id, "jiaoyanshi")
    assert find_user("sxx.admin").roles_on(primary) == {"school_admin"}
    assert find_user("supervisor").roles_on(primary) == {"supervisor"}
    assert find_user("city.supervisor").roles_on(primary) == {"supervisor"}
    assert all(u.check_password(DEMO_PASSWORD) for u in (unit_staff, find_user("bureau.admin")))
    document = jiayu_document()
    calendar = len(document["school_year"]) + len(document["class"])
    assert (report.created, report.updated) == (2 + 9 + 13 + len(users) + calendar, 0)
    assert set(report.passwords) == {u.username for u in users}
    assert all(p == "" for p in report.passwords.values())  # the demo password is not printed
    assert audit.verify() == []
    loaded = db.session.scalars(sa.select(AuditEvent).where(AuditEvent.action == "tenants.loaded"))
    assert sorted(e.bureau_id for e in loaded) == sorted([city.id, county.id])


def test_demo_password_comes_from_the_environment(ctx, monkeypatch):
    monkeypatch.setenv("KAIMEN_DEMO_PASSWORD", DEMO_PASSWORD)
    report = provisioning.load(JIAYU)
    assert all(p == "" for p in report.passwords.values())
    assert find_user("yy.teacher").check_password(DEMO_PASSWORD)


def test_a_second_load_changes_nothing(ctx):
    provisioning.load(JIAYU, demo_password=DEMO_PASSWORD)
    db.session.commit()
    before, state, chain = counts(), snapshot(), chain_length("jiayu")
    report = provisioning.load(JIAYU, demo_password=DEMO_PASSWORD)
    db.session.commit()
    assert (report.created, report.updated, report.passwords) == (0, 0, {})
    assert counts() == before
    assert snapshot() == state
    assert chain_length("jiayu") == chain


def _with_extra_grant(text: str) -> str:
    return text.replace(
        'grants = [{ role = "supervisor", org = "jiayu" }]',
        'grants = [{ role = "supervisor", org = "jiayu" }, { role = "leader", org = "jiayu" }]',
    )


def _replace(text: str, old: str, new: str) -> str:
    assert text.count(old) == 1, old
    return text.replace(old, new)


def test_an_edited_file_updates_exactly_what_changed(ctx, tmp_path):
    original = JIAYU.read_text(encoding="utf-8")
    base = tmp_path / "base.toml"
    base.write_text(_with_extra_grant(original), encoding="utf-8")
    provisioning.load(base, demo_password=DEMO_PASSWORD)
    db.session.commit()
    before, state = counts(), snapshot()
    edited = tmp_path / "edited.toml"
    text = _replace(original, 'hotline = "0715-6100112"', 'hotline = "0715-6199999"')
    school = 'slug = "yuyue-zhongxin"\nbureau = "jiayu"\n'
    text = _replace(text, school, school + 'disabled_plugins = ["noticeboard"]\n')
    edited.write_text(text, encoding="utf-8")
    report = provisioning.load(edited, demo_password=DEMO_PASSWORD)
    db.session.commit()
    assert (report.created, report.updated) == (0, 3)
    after = snapshot()
    middle = orgs.find("shiyan-zhongxue", orgs.SCHOOL)
    yuyue = orgs.find("yuyue-zhongxin", orgs.SCHOOL)
    # The hotline of one school ...
    assert after["orgs"].pop("shiyan-zhongxue")[6] == "0715-6199999"
    assert state["orgs"].pop("shiyan-zhongxue")[6] == "0715-6100112"
    # ... one grant ...
    assert after["users"].pop("supervisor")[5] == [("supervisor", "jiayu", None)]
    assert state["users"].pop("supervisor")[5] == [
        ("leader", "jiayu", None),
        ("supervisor", "jiayu", None),
    ]
    # ... and one plugin switch changed; nothing else did.
    assert (yuyue.id, "noticeboard", False) in after.pop("plugins")
    assert (yuyue.id, "noticeboard", False) not in state.pop("plugins")
    assert after == state
    assert counts()["RoleGrant"] == before["RoleGrant"] - 1
    assert not plugins.is_enabled("noticeboard", yuyue)
    assert plugins.is_enabled("noticeboard", middle)
    # Loading the original again switches the plugin back on.
    again = provisioning.load(JIAYU, demo_password=DEMO_PASSWORD)
    assert again.updated == 2  # hotline back, plugin back on
    assert orgs.find("shiyan-zhongxue", orgs.SCHOOL).hotline == "0715-6100112"


def test_malformed_toml_names_the_file_and_line(ctx, county, tmp_path):
    path = tmp_path / "broken.toml"
    path.write_text('[[bureau]]\nslug = "x"\nname "missing equals"\n', encoding="utf-8")
    before = counts()
    with pytest.raises(TenantFileError) as error:
        provisioning.load(path)
    assert str(path) in str(error.value)
    assert "line 3" in str(error.value)
    db.session.rollback()
    assert counts() == before


def test_a_missing_file_is_a_clear_error(ctx, tmp_path):
    with pytest.raises(TenantFileError, match="cannot be read"):
        provisioning.load(tmp_path / "nowhere.toml")


VALID = """
[[bureau]]
slug = "t-city"
name = "测试市教育局"

[[bureau]]
slug = "t-county"
parent = "t-city"
name = "测试县教育局"
timezone = "Asia/Shanghai"

[[unit]]
bureau = "t-county"
slug = "office"
name = "办公室"
kind = "department"

[[school]]
slug = "t-school"
bureau = "t-county"
name = "测试学校"
disabled_plugins = []

[[user]]
username = "t.staff"
display_name = "测试员"
grants = [{ role = "unit_staff", org = "t-county", unit = "office" }]

[[user]]
username = "t.teacher"
display_name = "测试教师"
grants = [{ role = "teacher", org = "t-school" }]
"""

BAD_FIELDS = [
    (
        'name = "测试学校"\n',
        'name = "测试学校"\ncolour = "red"\n',
        "school[0].colour",
        "unknown field",
    ),
    ('slug = "t-city"\nname = "测试市教育局"\n', 'slug = "t-city"\n', "bureau[0].name", "required"),
    ('slug = "t-school"', 'slug = "T School"', "school[0].slug", "lower-case"),
    ('parent = "t-city"', 'parent = "nowhere"', "bureau[1].parent", "nowhere"),
    (
        'slug = "t-school"\nbureau = "t-county"',
        'slug = "t-school"\nbureau = "nowhere"',
        "school[0].bureau",
        "nowhere",
    ),
    ('role = "teacher"', 'role = "janitor"', "user[1].grants[0].role", "janitor"),
    (', unit = "office" }', " }", "user[0].grants[0].unit", "unit_staff"),
    ('unit = "office"', 'unit = "attic"', "user[0].grants[0].unit", "unit_staff"),
    (
        'timezone = "Asia/Shanghai"',
        'timezone = "Mars/Olympus_Mons"',
        "bureau[1].timezone",
        "Mars/Olympus_Mons",
    ),
    (
        "disabled_plugins = []",
        'disabled_plugins = ["nosuch"]',
        "school[0].disabled_plugins",
        "nosuch",
    ),
    ('kind = "department"', 'kind = "office"', "unit[0].kind", "department"),
    ('org = "t-school"', 'org = "t-county"', "user[1].grants[0].org", "t-county"),
]


def test_the_valid_sample_loads(ctx, tmp_path):
    path = tmp_path / "valid.toml"
    path.write_text(VALID, encoding="utf-8")
    report = provisioning.load(path, demo_password=DEMO_PASSWORD)
    assert (report.created, report.updated) == (2 + 1 + 1 + 2, 0)
    assert find_user("t.staff").grants[0].unit.slug == "office"


@pytest.mark.parametrize(
    ("old", "new", "where", "message"), BAD_FIELDS, ids=[case[2] for case in BAD_FIELDS]
)
def test_bad_fields_are_named_and_nothing_is_half_loaded(
    ctx, county, tmp_path, old, new, where, message
):
    path = tmp_path / "bad.toml"
    path.write_text(_replace(VALID, old, new), encoding="utf-8")
    before, state = counts(), snapshot()
    with pytest.raises(TenantFileError) as error:
        provisioning.load(path, demo_password=DEMO_PASSWORD)
    text = str(error.value)
    assert text.startswith(f"{path}: {where}: "), text
    assert message in text
    db.session.rollback()
    assert counts() == before
    assert snapshot() == state


def test_cli_rolls_back_a_bad_file(app, ctx, county, tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text(_replace(VALID, 'role = "teacher"', 'role = "janitor"'), encoding="utf-8")
    before = counts()
    result = app.test_cli_runner().invoke(args=["kaimen", "tenants", "load", str(path)])
    assert result.exit_code == 1
    assert "user[1].grants[0].role" in result.output
    assert counts() == before
    assert orgs.find("t-county", orgs.BUREAU) is None


def test_cli_prints_generated_passwords_once(app, ctx):
    runner = app.test_cli_runner()
    result = runner.invoke(args=["kaimen", "tenants", "load", str(JIAYU)])
    assert result.exit_code == 0, result.output
    document = jiayu_document()
    created = sum(
        len(document[key]) for key in ("bureau", "unit", "school", "user", "school_year", "class")
    )
    assert f"{JIAYU}: {created} created, 0 updated" in result.output
    assert "shown once" in result.output
    printed = dict(re.findall(r"^  (\S+)\s+(\S+)$", result.output, re.M))
    assert len(printed) == len(document["user"])
    assert len(set(printed.values())) == len(printed)  # distinct
    assert all(len(p) >= 12 for p in printed.values())
    for username in ("bureau.admin", "sxx.teacher", "unit.jijiao"):
        assert find_user(username).check_password(printed[username])
    assert not find_user("bureau.admin").check_password(printed["sxx.teacher"])
    second = runner.invoke(args=["kaimen", "tenants", "load", str(JIAYU)])
    assert second.exit_code == 0, second.output
    assert f"{JIAYU}: 0 created, 0 updated" in second.output
    assert "shown once" not in second.output
    for password in printed.values():
        assert password not in second.output
    assert find_user("bureau.admin").check_password(printed["bureau.admin"])  # unchanged


def test_cli_with_demo_password_prints_none(app, ctx, monkeypatch):
    monkeypatch.setenv("KAIMEN_DEMO_PASSWORD", DEMO_PASSWORD)
    result = app.test_cli_runner().invoke(args=["kaimen", "tenants", "load", str(JIAYU)])
    assert result.exit_code == 0, result.output
    assert "shown once" not in result.output
    assert DEMO_PASSWORD not in result.output
    assert find_user("leader.wang").check_password(DEMO_PASSWORD)


# --- a file that names the same thing twice, flips a kind, or makes a cycle --------------

DUPLICATES = [
    ('[[bureau]]\nslug = "t-city"\nname = "又一个"\n', "bureau[2].slug",
     "already listed at bureau[0]"),
    ('[[school]]\nslug = "t-school"\nbureau = "t-county"\nname = "又一所"\n', "school[1].slug",
     "already listed at school[0]"),
    ('[[school]]\nslug = "t-county"\nbureau = "t-county"\nname = "同名"\n', "school[1].slug",
     "already listed at bureau[1]"),
    ('[[unit]]\nbureau = "t-county"\nslug = "office"\nname = "又一个"\nkind = "department"\n',
     "unit[1].slug", "already listed at unit[0]"),
    ('[[user]]\nusername = "T.Teacher"\ndisplay_name = "改名"\n'
     'grants = [{ role = "school_admin", org = "t-school" }]\n',
     "user[2].username", "already listed at user[1]"),
]


def _refused(path: Path, where: str, message: str) -> None:
    """Loading ``path`` fails at ``where`` and leaves every row as it was."""
    before, state = counts(), snapshot()
    with pytest.raises(TenantFileError) as error:
        provisioning.load(path, demo_password=DEMO_PASSWORD)
    text = str(error.value)
    assert text.startswith(f"{path}: {where}: "), text
    assert message in text
    db.session.rollback()
    assert counts() == before
    assert snapshot() == state


@pytest.mark.parametrize(("extra", "where", "message"), DUPLICATES,
                         ids=[case[1] for case in DUPLICATES])
def test_the_same_slug_or_user_twice_in_a_file_is_refused(ctx, county, tmp_path, extra, where,
                                                          message):
    path = tmp_path / "twice.toml"
    path.write_text(VALID + "\n" + extra, encoding="utf-8")
    _refused(path, where, message)
    assert orgs.find("t-city", orgs.BUREAU) is None


@pytest.mark.parametrize(("text", "where", "message"), [
    ('[[school]]\nslug = "county-a"\nbureau = "county-b"\nname = "变成学校"\n',
     "school[0].slug", "'county-a' is already a bureau"),
    ('[[bureau]]\nslug = "a1"\nname = "变成教育局"\n', "bureau[0].slug",
     "'a1' is already a school"),
])
def test_a_slug_never_changes_its_kind(ctx, county, tmp_path, text, where, message):
    path = tmp_path / "flip.toml"
    path.write_text(text, encoding="utf-8")
    _refused(path, where, message)
    db.session.expire_all()
    assert orgs.find("county-a", orgs.BUREAU) is not None
    assert orgs.find("a1", orgs.SCHOOL) is not None


def test_a_bureau_cannot_be_its_own_parent(ctx, county, tmp_path):
    path = tmp_path / "self.toml"
    path.write_text('[[bureau]]\nslug = "county-b"\nparent = "county-b"\nname = "乙县"\n',
                    encoding="utf-8")
    _refused(path, "bureau[0].parent", "its own parent")


@pytest.mark.timeout(30)
def test_a_parent_cycle_across_two_loads_is_refused(ctx, tmp_path):
    first = tmp_path / "first.toml"
    first.write_text(VALID, encoding="utf-8")
    provisioning.load(first, demo_password=DEMO_PASSWORD)
    db.session.commit()
    second = tmp_path / "second.toml"
    second.write_text('[[bureau]]\nslug = "t-city"\nparent = "t-county"\nname = "测试市教育局"\n',
                      encoding="utf-8")
    _refused(second, "bureau[0].parent", "makes a cycle: t-city -> t-county -> t-city")


@pytest.mark.timeout(30)
def test_a_cycle_within_one_file_is_refused(ctx, county, tmp_path):
    path = tmp_path / "swap.toml"
    path.write_text('[[bureau]]\nslug = "county-a"\nparent = "county-b"\nname = "甲县"\n\n'
                    '[[bureau]]\nslug = "county-b"\nparent = "county-a"\nname = "乙县"\n',
                    encoding="utf-8")
    _refused(path, "bureau[1].parent", "makes a cycle: county-b -> county-a -> county-b")


@pytest.mark.timeout(30)
def test_a_cycle_already_in_the_database_is_a_clear_error_not_a_hang(ctx, county):
    county.city.parent_id = county.a.id  # written behind the loader's back
    db.session.flush()
    db.session.expire_all()
    with pytest.raises(orgs.TreeCycleError, match="cycle"):
        county.a1.ancestors()
    with pytest.raises(orgs.TreeCycleError, match="city"):
        orgs.schools_under(county.city)
    with pytest.raises(orgs.TreeCycleError):
        find_user("a1.admin").roles_on(county.a1)
    assert county.b1.ancestors() == [county.b]  # the rest of the tree still works
