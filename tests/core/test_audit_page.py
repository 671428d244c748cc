"""The supervisors' audit log in words: actions, people, objects, and logins apart."""

from __future__ import annotations

import re
from typing import Any

import pytest

from kaimen import audit, tenancy
from kaimen.extensions import db

PAGE = "/b/county-a/audit/"


def cells(response: Any, label: str) -> list[str]:
    """Return the text of every cell of the column ``label`` (as data-label names it)."""
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    found = re.findall(rf'<td[^>]* data-label="{label}"[^>]*>(.*?)</td>', html, flags=re.S)
    return [re.sub(r"\s+", " ", cell).strip() for cell in found]


@pytest.fixture
def supervisor(app, county, as_user):
    with app.app_context(), tenancy.system_scope():
        audit.record("plugin.disabled", county.a1, school=county.a1,
                     actor=county.users["a1.admin"])
        audit.record("complaint.submitted", county.a1, school=county.a1, public=True)
        db.session.commit()
    client = as_user("a.supervisor")  # logging in writes an account.login event too
    client.set_cookie("kaimen_locale", "en")
    return client


def test_actions_people_and_objects_are_shown_in_words(supervisor, county):
    page = supervisor.get(PAGE)
    assert "Feature switched off" in cells(page, "Action")
    people = cells(page, "Person")
    assert any(p.startswith(county.users["a1.admin"].display_name) for p in people), people
    assert "The public" in people
    html = page.get_data(as_text=True)
    assert f'<a href="/s/a1/">{county.a1.name}</a>' in html  # the school that changed
    assert "<code>" not in html


def test_actions_are_a_select_list_and_translated(supervisor):
    supervisor.set_cookie("kaimen_locale", "zh_Hans")
    page = supervisor.get(PAGE).get_data(as_text=True)
    select = re.search(r'<select name="action">(.*?)</select>', page, flags=re.S)
    assert select
    assert '<option value="plugin.disabled"' in select.group(1)
    assert "关闭功能" in select.group(1)
    assert "关闭功能" in "".join(cells(supervisor.get(PAGE), "操作"))
    chosen = supervisor.get(PAGE, query_string={"action": "plugin.disabled"})
    assert cells(chosen, "操作") == ["关闭功能"]


def test_logins_have_a_filter_of_their_own(supervisor):
    default = " ".join(cells(supervisor.get(PAGE), "Action"))
    assert "Logged in" not in default  # they do not drown the changes
    assert "Feature switched off" in default
    only = cells(supervisor.get(PAGE, query_string={"logins": "only"}), "Action")
    assert only
    assert set(only) == {"Logged in"}
    both = set(cells(supervisor.get(PAGE, query_string={"logins": "all"}), "Action"))
    assert {"Logged in", "Feature switched off"} <= both
    chosen = supervisor.get(PAGE, query_string={"action": "account.login"})
    assert set(cells(chosen, "Action")) == {"Logged in"}
