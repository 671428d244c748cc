"""``make soak``'s script, briefly: under kill -9 of a worker and of the whole server, every
receipt a client saw leads to its complaint, nothing is filed twice and nothing answers 500.

It runs the script itself (gunicorn on 127.0.0.1, SQLite, and PostgreSQL when
KAIMEN_TEST_DATABASE_URL is set), so the script cannot rot unnoticed.
"""

from __future__ import annotations

import os
from typing import Any

import pytest
from bench_script import run_script

TIMEOUT = 240  # seconds: the run itself takes ~30 s on a quiet 2-core machine


@pytest.fixture(scope="module")
def soak() -> dict[str, Any]:
    env = {k: v for k, v in os.environ.items() if k != "BENCH_POSTGRES_URL"}
    if os.environ.get("KAIMEN_TEST_DATABASE_URL"):
        env["BENCH_POSTGRES_URL"] = os.environ["KAIMEN_TEST_DATABASE_URL"]
    return run_script("soak.py", ["--seconds", "2", "--clients", "4", "--no-readme"], env,
                      TIMEOUT, "SOAK_JSON")


@pytest.mark.parametrize("database", ["SQLite", "PostgreSQL"])
def test_no_receipt_lost_or_duplicated_through_kills(soak: dict[str, Any], database: str) -> None:
    result = next(r for r in soak["results"] if r["database"] == database)
    if "not_run" in result:
        assert database == "PostgreSQL"
        if os.environ.get("KAIMEN_REQUIRE_ALL_BACKENDS"):
            pytest.fail("KAIMEN_REQUIRE_ALL_BACKENDS is set: KAIMEN_TEST_DATABASE_URL is missing")
        pytest.skip("PostgreSQL soak skipped: set KAIMEN_TEST_DATABASE_URL")
    phases = {p["phase"]: p for p in result["phases"]}
    assert list(phases) == ["steady", "worker killed", "full restart"]
    for name, phase in phases.items():
        context = f"{database}, {name}: {phase}\n{soak['output']}"
        assert phase["receipts"] > 0, context
        assert phase["lost"] == 0, context
        assert phase["duplicated"] == 0, context
        assert phase["errors"].get("500", 0) == 0, context
        assert phase["rows"] == phase["receipts"], context
        assert phase["rows_without_receipt_row"] == 0, context
        assert set(phase["outcomes"]) == {"receipt"}, context
    # The faults did happen: a request was cut by the killed worker or refused while the
    # server was down, and the server answered again.
    assert phases["worker killed"]["fault"].startswith("kill -9 of worker")
    assert "answering again" in phases["full restart"]["fault"]
    assert phases["full restart"]["errors"].get("refused", 0) \
        + phases["full restart"]["errors"].get("dropped", 0) > 0
    # Some forms were double-clicked: sent twice at once, filed once (duplicated == 0 above).
    assert sum(p["double_clicks"] for p in phases.values()) > 0
    assert result["tracebacks"] == 0, soak["output"]
    assert soak["returncode"] == 0, soak["output"]
