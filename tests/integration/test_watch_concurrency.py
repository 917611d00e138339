"""Watchers that crash or run side by side: never a duplicate mail, never a missed issue."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest

from esbridge.notify.digest import Digest
from esbridge.watch.engine import CycleReport, Watcher
from tests.helpers.sites import Site
from tests.helpers.watching import (
    T0,
    Mailbox,
    feed,
    issues,
    log_line,
    watcher,
)

pytestmark = pytest.mark.integration

POOLS = [f"dcache-xfel{n}-01" for n in range(490, 496)]
DISABLED = "Pool mode changed to disabled(): Operator intervention"


class Killed(BaseException):
    """Stands for SIGKILL between the claim and the mail: nothing after it runs."""


class DiesWhileSending:
    def send(self, digest: Digest) -> None:
        raise Killed


def mailed_pools(box: Mailbox) -> list[str]:
    """Each pool named in a table row of any mail, once per row."""
    return [
        pool
        for text in box.texts()
        for line in text.splitlines()
        for pool in POOLS
        if f"{pool}Domain" in line
    ]


def test_two_watchers_at_once_mail_each_issue_once(
    watched: Site, mailbox: tuple[Mailbox, int]
) -> None:
    feed(
        watched,
        [log_line(T0 + timedelta(seconds=i), pool, DISABLED) for i, pool in enumerate(POOLS)],
    )
    pair = [watcher(watched), watcher(watched)]
    reports: list[CycleReport] = []
    start = threading.Barrier(2)

    def cycle(run: Watcher, seconds: float) -> None:
        start.wait()
        reports.append(run.run_cycle(T0 + timedelta(seconds=seconds)))

    for seconds in (10, 70, 80):
        threads = [threading.Thread(target=cycle, args=(run, seconds)) for run in pair]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    assert sorted(mailed_pools(mailbox[0])) == sorted(POOLS)
    assert sorted(i for r in reports for i in r.notified) == sorted(
        f"pool-disabled:{p}" for p in POOLS
    )
    stored = issues(watched)
    assert {doc["count"] for doc in stored.values()} == {1}
    assert all(len(doc["history"]) == 1 for doc in stored.values()), "a transition was doubled"


def test_a_watcher_killed_after_claiming_is_replaced_without_duplicate_or_loss(
    watched: Site, mailbox: tuple[Mailbox, int]
) -> None:
    box = mailbox[0]
    first, later = POOLS[0], POOLS[1]
    assert watched.config.watch is not None
    claims = watched.config.watch.model_copy(update={"claim_timeout": 120.0})
    watched.config = watched.config.model_copy(update={"watch": claims})
    feed(watched, [log_line(T0, first, DISABLED)])
    doomed = Watcher(watched.config, watched.cluster, DiesWhileSending())
    doomed.run_cycle(T0 + timedelta(seconds=10))
    with pytest.raises(Killed):
        doomed.run_cycle(T0 + timedelta(seconds=70))
    assert issues(watched)[f"pool-disabled:{first}"]["watcher"]["claim_token"] == doomed.token

    feed(watched, [log_line(T0 + timedelta(seconds=100), later, DISABLED)])
    restarted = watcher(watched)
    held = restarted.run_cycle(T0 + timedelta(seconds=180))
    assert held.notified == [f"pool-disabled:{later}"], "the claimed issue waits for its claim"
    assert mailed_pools(box) == [later]

    expired = restarted.run_cycle(T0 + timedelta(seconds=70 + 121))  # watch.claim_timeout
    assert expired.notified == [f"pool-disabled:{first}"]
    restarted.run_cycle(T0 + timedelta(seconds=70 + 700))
    assert sorted(mailed_pools(box)) == sorted([first, later])
    assert len(box.messages) == 2
