"""``make bench``'s submissions scenario, briefly: wrk files opinions through ``submit.lua``,
every receipt it was shown leads to its complaint stored once, and the table is made.

It runs the script itself (gunicorn on 127.0.0.1, a fresh PostgreSQL database), so neither
the script nor its wrk driver can rot unnoticed. It needs PostgreSQL and wrk (CI installs
both).
"""

from __future__ import annotations

import os
import shutil
from typing import Any

import pytest
from bench_script import run_script

TIMEOUT = 300  # seconds: the run itself takes under a minute on a quiet 2-core machine


@pytest.fixture(scope="module")
def run() -> dict[str, Any]:
    database = os.environ.get("KAIMEN_TEST_DATABASE_URL")
    if not database:
        if os.environ.get("KAIMEN_REQUIRE_ALL_BACKENDS"):
            pytest.fail("KAIMEN_REQUIRE_ALL_BACKENDS is set: KAIMEN_TEST_DATABASE_URL is missing")
        pytest.skip("the submissions scenario runs on PostgreSQL: set KAIMEN_TEST_DATABASE_URL")
    if shutil.which("wrk") is None:
        if os.environ.get("KAIMEN_REQUIRE_ALL_BACKENDS"):
            pytest.fail("KAIMEN_REQUIRE_ALL_BACKENDS is set: wrk is not installed")
        pytest.skip("the submissions scenario needs wrk (apt-get install wrk)")
    env = os.environ | {"BENCH_POSTGRES_URL": database}
    return run_script("submissions.py", ["--seconds", "2", "--no-readme"], env, TIMEOUT,
                      "SUBMISSIONS_JSON")


@pytest.mark.parametrize("scenario", ["one_school", "twenty_schools"])
def test_every_receipt_shown_was_stored_once(run: dict[str, Any], scenario: str) -> None:
    figures, context = run[scenario], run["output"]
    assert figures["receipts"] > 0, context
    assert figures["lost"] == 0, context
    assert figures["duplicated"] == 0, context
    assert figures["rows_without_receipt_row"] == 0, context
    # Every stored opinion was either shown with its receipt or still in flight at the end,
    # at most one per filer.
    assert figures["rows"] == figures["receipts"] + figures["rows_never_confirmed"], context
    assert figures["rows_never_confirmed"] <= figures["filers"], context
    assert figures["errors"] == {}, context
    assert figures["requests_per_s"] > 0, context
    assert 0 < figures["ratio_to_bare"] < 1, context
    assert run["returncode"] == 0, context


def test_the_bare_form_is_the_same_page_and_answers_a_receipt(run: dict[str, Any]) -> None:
    bare = run["bare_form"]
    assert bare["receipts_shown"] > 0, run["output"]
    assert bare["errors"] == {}, run["output"]
    # A form, then an opinion answered by its receipt: a receipt for every form but those
    # whose opinion was in flight when the load stopped (one per filer at most) or not yet
    # sent (one per wrk thread at most: the next free connection sends it).
    assert bare["requests"] == bare["forms"] + bare["receipts_shown"], run["output"]
    assert 0 <= bare["forms"] - bare["receipts_shown"] <= bare["filers"] + 2, run["output"]
    assert "| the same against a bare Flask form (no database) |" in run["output"]
    assert "| 16 filers, 1 school, 2 sync workers |" in run["output"]
