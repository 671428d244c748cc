"""Run one of ``make bench``'s scripts briefly from a test, and read its JSON report line."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]


def run_script(name: str, args: list[str], env: dict[str, str], timeout: float,
               marker: str) -> dict[str, Any]:
    """Run ``tests/benchmarks/<name>`` with ``args``; return the JSON after ``marker`` on its
    last such line, with the whole ``output`` and the ``returncode`` added.

    On a timeout the script gets SIGTERM, so that it takes its servers down, and the test
    fails with what it printed.
    """
    process = subprocess.Popen([sys.executable, str(ROOT / "tests" / "benchmarks" / name), *args],
                               cwd=ROOT, env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True)
    try:
        output, _ = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=30)
        pytest.fail(f"{name} took more than {timeout:g} s:\n{output}")
    lines = [line for line in output.splitlines() if line.startswith(marker + " ")]
    assert lines, output
    report: dict[str, Any] = json.loads(lines[-1].removeprefix(marker + " "))
    report["output"], report["returncode"] = output, process.returncode
    return report
