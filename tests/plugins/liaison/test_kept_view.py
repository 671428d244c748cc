"""A leader's new name shows on the kept umbrella view at once (people bump their version)."""

from __future__ import annotations

from conftest import login
from umbrella_page import cell

from blueprints.liaison import services
from kaimen.extensions import db


def test_a_renamed_leader_shows_on_the_next_view(client, county, years):
    leader = county.users["a.leader"]
    services.set_assignments(county.a, years.current, {(county.a1.id, leader.id)}, set())
    db.session.commit()
    login(client, "a.supervisor")
    before = client.get("/b/county-a/").text
    assert cell(before, "a1学校", "Dual-link", "Linked leader").text == leader.display_name
    assert client.get("/b/county-a/").text.count(leader.display_name) >= 1  # kept
    leader.display_name = "Renamed Leader"
    db.session.commit()
    after = client.get("/b/county-a/").text
    assert cell(after, "a1学校", "Dual-link", "Linked leader").text == "Renamed Leader"
