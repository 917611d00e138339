"""A watcher killed while its action runs: the action dies with it and is not run twice.

The first watcher is `esbridge watch` as an operator runs it, SIGKILLed during the action; real
Kafka, `esbridge ingest`, Elasticsearch and SMTP (aiosmtpd).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from esbridge.stack import process
from tests.helpers.sites import Site
from tests.helpers.watching import Mailbox, feed, issues, log_line, rules, watch_section, watcher

pytestmark = pytest.mark.integration

POOL = "dcache-xfel497-01"
KEY = f"pool-restarted:{POOL}"
SLEEPER = """
import os, sys, time
with open(sys.argv[1], "a") as runs:
    runs.write(f"{os.getpid()} {sys.argv[2]}\\n")
time.sleep(60)
"""
"""The action: notes each run (its pid and the pool), then takes its time."""


def wait_for(check: Callable[[], bool], attempts: int = 600) -> bool:
    for _ in range(attempts):
        if check():
            return True
        time.sleep(0.1)
    return check()


def test_a_sigkilled_watcher_takes_its_action_along_and_the_next_one_does_not_repeat_it(
    sites: Callable[[str], Site], mailbox: tuple[Mailbox, int], tmp_path: Path
) -> None:
    """The restarted watcher runs in-process with its clock 11 minutes ahead: past the dead
    watcher's claim (`claim_timeout`, 10 minutes) and past the run's timeout and grace, the
    moment a restarted watcher would take the issue over without waiting for it here.
    `rate_limit: 0`, so only the recorded start without an end keeps the action from running
    again."""
    runs, script = tmp_path / "runs.txt", tmp_path / "sleeper.py"
    script.write_text(SLEEPER)
    action = json.dumps([sys.executable, str(script), str(runs), "{pool}"])
    site = sites(
        watch_section(mailbox[1])
        + rules(
            f"""
- name: pool-restarted
  type: PoolRestarted
  producer: logs
  match:
    phrase: Operator intervention
  action:
    command: {action}
    rate_limit: 0
    timeout: 120s
"""
        )
    )
    now = datetime.now(UTC)
    feed(
        site,
        [
            log_line(
                now - timedelta(minutes=5),
                POOL,
                "Pool mode changed to disabled(): Operator intervention",
            )
        ],
    )
    log = (tmp_path / "watch.log").open("wb")
    first = subprocess.Popen(
        [sys.executable, "-m", "esbridge", "watch", "-c", str(site.config_path)],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    guard = threading.Timer(120, first.kill)
    guard.start()
    pids: list[int] = []
    try:
        ran = wait_for(lambda: runs.exists() and runs.read_text().endswith("\n"))
        assert ran, (tmp_path / "watch.log").read_text()
        pids = [int(line.split()[0]) for line in runs.read_text().splitlines()]
        assert process.alive(pids[0])
        history = issues(site)[KEY]["history"]
        assert [h.get("action") for h in history if h.get("action")] == ["started"], "before it ran"

        first.kill()
        first.wait()
        assert wait_for(lambda: not process.alive(pids[0]), attempts=100)
    finally:
        guard.cancel()
        if first.poll() is None:
            first.kill()
            first.wait()
        log.close()
        for pid in pids:
            if process.alive(pid):
                os.kill(pid, signal.SIGKILL)

    report = watcher(site).run_cycle(datetime.now(UTC) + timedelta(minutes=11))

    assert runs.read_text().splitlines() == [f"{pids[0]} {POOL}"], "ran once"
    assert [(key, result.ran) for key, result in report.actions] == [(KEY, False)]
    assert "unknown outcome; not repeated" in (report.actions[0][1].reason or "")
    entries = [h for h in issues(site)[KEY]["history"] if h["action"]]
    assert [h["action"] for h in entries] == ["started", "unknown"]
    assert "outcome unknown, its end was never recorded" in entries[1]["reason"]
    assert "not repeated automatically (action.rerun_after_crash: false)" in entries[1]["reason"]
    assert KEY in report.notified, "the issue itself is still mailed"
    assert len(mailbox[0].messages) == 1
