"""Worker memory over many requests (issue 14, item 7): RSS after 1,000 and 10,000 requests.

Serves the demo county with gunicorn (the settings of ``run.py``) and sends a mix of
requests one at a time from a few keep-alive clients: public pages (cached and not), the
complaint form, a pledge, the open days, tracking a receipt, pages that do not exist, and
a supervisor's and a school admin's staff pages. After 1,000 and after 10,000 requests it
reads the resident memory of every worker from ``/proc``. Target: the second figure within
10% of the first. Writes a line into README.md between its markers; prints the figures
as JSON last.
"""

from __future__ import annotations

import http.client
import json
import secrets
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from run import (
    SERVERS,
    BenchError,
    build_database,
    environments,
    say,
    session_cookie,
    start,
    stop,
    update_readme,
    wait_until_up,
)

MARKERS = ("<!-- memory:start -->", "<!-- memory:end -->")
CHECKPOINTS = (1_000, 10_000)
CLIENTS = 4
TARGET = 0.10
ANONYMOUS = [
    "/s/shiyan-xiaoxue/", "/s/shiyan-xiaoxue/pledges/", "/s/shiyan-xiaoxue/complaints/",
    "/s/shiyan-xiaoxue/opendays/", "/s/shiyan-zhongxue/", "/s/shiyan-zhongxue/pledges/",
    "/healthz", "/track", "/s/no-such-school/", "/s/shiyan-xiaoxue/no-such-page",
]
STAFF = {
    "supervisor": ["/b/jiayu/", "/b/jiayu/complaints/"],
    "sxx.admin": ["/s/shiyan-xiaoxue/desk/", "/s/shiyan-xiaoxue/complaints/cases"],
}


def workers(master: int) -> list[int]:
    """Return the pids of gunicorn's workers (the master's children)."""
    children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
    return [int(pid) for pid in children]


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise BenchError(f"no VmRSS for process {pid}")


class Mix:
    """Hand out the requests of the mix in a fixed order, to any number of clients."""

    def __init__(self, cookies: dict[str, str]) -> None:
        self.requests: list[tuple[str, str | None]] = [(path, None) for path in ANONYMOUS]
        for user, paths in STAFF.items():
            self.requests += [(path, cookies[user]) for path in paths]
        self.sent = 0
        self.errors = 0
        self.lock = threading.Lock()

    def next(self, limit: int) -> tuple[str, str | None] | None:
        with self.lock:
            if self.sent >= limit:
                return None
            self.sent += 1
            return self.requests[self.sent % len(self.requests)]


def load(port: int, mix: Mix, limit: int) -> None:
    """Send requests from the mix until ``limit`` have gone out, from ``CLIENTS`` threads."""

    def client() -> None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        while (item := mix.next(limit)) is not None:
            path, cookie = item
            try:
                connection.request("GET", path, headers={"Cookie": cookie} if cookie else {})
                response = connection.getresponse()
                response.read()
                failed = response.status >= 500
            except OSError:
                connection.close()
                failed = True
            if failed:
                with mix.lock:
                    mix.errors += 1

    threads = [threading.Thread(target=client) for _ in range(CLIENTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def measure(workdir: Path) -> dict[str, Any]:
    envs = environments(workdir, None)
    say("Building the demo database for the memory run…")
    build_database(workdir, envs["setup"])
    process, base, log = start(SERVERS["kaimen"], envs["kaimen"], workdir)
    try:
        wait_until_up(process, base + "/", log)
        port = int(base.rsplit(":", 1)[1])
        password = envs["setup"]["KAIMEN_DEMO_PASSWORD"]
        cookies = {user: session_cookie(base, user, password) for user in STAFF}
        master = process.pid
        mix = Mix(cookies)
        figures: dict[str, Any] = {}
        started = time.monotonic()
        measured: list[int] = []
        for checkpoint in CHECKPOINTS:
            say(f"Sending requests up to {checkpoint:,}…")
            load(port, mix, checkpoint)
            pids = workers(master)
            figures[f"rss_mib_after_{checkpoint}"] = round(
                sum(rss_kib(pid) for pid in pids) / 1024, 1)
            measured = measured or pids
            if pids != measured:  # a restarted worker starts small: the figure would lie
                raise BenchError(f"gunicorn replaced a worker ({measured} → {pids}): "
                                 "the machine is too busy for this measurement")
        figures["seconds"] = round(time.monotonic() - started, 1)
        figures["errors_5xx"] = mix.errors
        figures["workers"] = len(workers(master))
    finally:
        stop(process)
    first, last = (figures[f"rss_mib_after_{n}"] for n in CHECKPOINTS)
    figures["growth"] = round(last / first - 1, 3)
    figures["met"] = figures["growth"] <= TARGET and mix.errors == 0
    return figures


def line(figures: dict[str, Any]) -> str:
    first, last = (figures[f"rss_mib_after_{n}"] for n in CHECKPOINTS)
    verdict = "within" if figures["met"] else "**not** within"
    return (f"Memory: {figures['workers']} workers held {first} MiB after 1,000 mixed requests "
            f"and {last} MiB after 10,000 ({figures['growth']:+.1%}; {verdict} the 10% target; "
            f"{figures['errors_5xx']} server errors; {figures['seconds']} s).")


def main() -> int:
    try:
        with tempfile.TemporaryDirectory(prefix=f"kaimen-memory-{secrets.token_hex(2)}-") as tmp:
            figures = measure(Path(tmp))
    except BenchError as error:
        say(f"Memory benchmark failed: {error}")
        return 1
    text = line(figures)
    say(text)
    say("README.md updated." if update_readme(text, *MARKERS) else "")
    say(json.dumps(figures))
    return 0 if figures["met"] else 1


if __name__ == "__main__":
    sys.exit(main())
