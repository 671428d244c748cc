"""Demo data: every state and channel, overdue and urged cases, one leadership report."""

from __future__ import annotations

from blueprints.complaints import deadlines, services
from blueprints.complaints.choices import CHANNELS, STATUSES

from .helpers import all_cases


def test_demo_load_through_the_cli_is_complete_and_idempotent(app, ctx, county):
    runner = app.test_cli_runner()
    result = runner.invoke(args=["kaimen", "demo", "load"])
    assert result.exit_code == 0, result.output
    cases = all_cases()
    assert {c.school_id for c in cases} == {county.a1.id, county.a2.id, county.b1.id}
    assert {c.status for c in cases} == set(STATUSES)
    assert {c.channel for c in cases} == set(CHANNELS)
    assert sum(c.about_leadership for c in cases) == 2  # the first school of each county
    today = deadlines.local_date(county.a)
    assert any(services.is_overdue(c, today) for c in cases)
    assert any(c.urged_count for c in cases)
    assert all(c.owner_id for c in cases if c.status not in ("received", "not_accepted"))
    for case in cases:
        if case.status == "closed":
            assert services.missing_for_closing(case) == []
    again = runner.invoke(args=["kaimen", "demo", "load"])
    assert again.exit_code == 0
    assert len(all_cases()) == len(cases)
