"""Lines that reach Elasticsearch late are still seen: windows are cut on ingest time.

Real Kafka, `esbridge ingest` and Elasticsearch; mail through a real SMTP server (aiosmtpd).
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from elasticsearch import Elasticsearch

from tests.helpers.sites import Site
from tests.helpers.watching import (
    T0,
    Mailbox,
    feed,
    issues,
    log_line,
    seconds,
    watch_section,
    watcher,
)

pytestmark = pytest.mark.integration

DISABLED = "Pool mode changed to disabled(): Operator intervention"
ENABLED = "Pool mode changed to enabled"
A, B, C, D = (f"dcache-late{n}-01" for n in range(1, 5))


STATUS = re.compile(r"\b(?:unresolved|resolved)\b")


def rows(box: Mailbox, pool: str) -> list[str]:
    """Every digest row about `pool`, in the order mailed."""
    return [line for text in box.texts() for line in text.splitlines() if f"{pool}Domain" in line]


def test_incidents_while_ingest_is_stopped_are_applied_and_mailed_once_it_resumes(
    sites: Callable[[str], Site], mailbox: tuple[Mailbox, int]
) -> None:
    """The issue's case: ingest stops for 10 minutes while the watcher cycles every 30 s.

    The watcher's lifecycle clock (`now`) goes through those 10 minutes in 30 s steps, 21 cycles
    from T0+90 s to T0+690 s, and the lines produced to Kafka meanwhile carry times inside
    them; ingest runs again only after the last of those cycles. The windows run on the real
    clock that ingest stamps `event.ingested` with, as in production, and `watch.lag` is 1 s:
    the stop lasts longer than that in real time too (ingest's idle exit alone waits 4 s), so
    the backlog is found because it was ingested after the checkpoint, not because the overlap
    reaches back to it. Cut on `@timestamp` (before the fix), the cycle after the resume read
    only the lines of its last 31 s and found none of these.

    Pool A was disabled and mailed before the stop and enabled during it: its resolution is
    mailed, although its own time is older than `finalize_after` by then. B is disabled during
    the stop, D twice: each is mailed once, D counted twice. C is disabled and enabled again
    during the stop: applied, and not mailed, the lifecycle's rule for a problem that was over
    before any mail about it could go out (as for a restart within the delay), then finalized.
    """
    box = mailbox[0]
    site = sites(watch_section(mailbox[1], lag="1s"))
    feed(site, [log_line(T0, A, DISABLED)])
    run = watcher(site)
    assert run.run_cycle(T0 + seconds(70)).notified == [f"pool-disabled:{A}"]
    assert len(box.messages) == 1

    site.produce(
        "logs",
        [
            log_line(T0 + seconds(150), A, ENABLED),
            log_line(T0 + seconds(200), B, DISABLED),
            log_line(T0 + seconds(240), C, DISABLED),
            log_line(T0 + seconds(300), D, DISABLED),
            log_line(T0 + seconds(420), D, DISABLED + " again"),
            log_line(T0 + seconds(480), C, ENABLED),
        ],
    )
    stopped = [run.run_cycle(T0 + seconds(90 + 30 * n)) for n in range(21)]
    assert [(r.occurrences, r.resolutions, r.notified) for r in stopped] == [(0, 0, [])] * 21
    assert len(box.messages) == 1

    code, _ = site.ingest()
    assert code == 0
    site.count(site.index("logs"))
    resumed = run.run_cycle(T0 + seconds(720))

    assert resumed.occurrences == 4
    found = issues(site)
    assert {pool: found[f"pool-disabled:{pool}"]["status"] for pool in (A, B, C, D)} == {
        A: "resolved",
        B: "unresolved",
        C: "finalized",  # resolved T0+480 s, finalize_after 120 s, never mailed: no need to wait
        D: "unresolved",
    }
    assert found[f"pool-disabled:{A}"]["resolved_at"] == "2025-03-01T10:02:30.000000Z"
    assert found[f"pool-disabled:{D}"]["count"] == 2
    assert found[f"pool-disabled:{C}"]["count"] == 1
    assert sorted(resumed.notified) == sorted(f"pool-disabled:{p}" for p in (A, B, D))
    assert len(box.messages) == 2

    for step in (750, 780, 900, 1200):
        run.run_cycle(T0 + seconds(step))
    assert len(box.messages) == 2
    assert [STATUS.findall(row) for row in rows(box, A)] == [["unresolved"], ["resolved"]], (
        "A: mailed unresolved before the stop, resolved after it, once each"
    )
    assert len(rows(box, B)) == len(rows(box, D)) == 1
    assert rows(box, C) == []


def test_a_line_ingested_late_is_found_and_one_without_an_ingest_time_by_its_own(
    sites: Callable[[str], Site], mailbox: tuple[Mailbox, int]
) -> None:
    """Documents written before esbridge stamped `event.ingested` are windowed by `@timestamp`.

    One line comes through ingest with a time two hours old (beyond `since`: found only by its
    ingest time); two documents are written as an older esbridge wrote them, without
    `event.ingested`: the one logged within the window is found, the one logged before it is
    not (as before the fix). Both clocks are the real one here.
    """
    site = sites(watch_section(mailbox[1], since="1h"))
    now = datetime.now(UTC)
    late, fresh, old = "dcache-late-02", "dcache-unstamped-01", "dcache-unstamped-02"
    feed(site, [log_line(now - timedelta(hours=2), late, DISABLED)])

    def unstamped(at: datetime, pool: str) -> dict[str, Any]:
        return {
            "@timestamp": at.isoformat().replace("+00:00", "Z"),
            "message": f"{at:%d %b %Y %H:%M:%S} ({pool}) [] {DISABLED}",
            "dcache": {"cell": pool, "pool": {"name": pool, "mode": "disabled"}},
        }

    for at, pool in ((now - timedelta(minutes=5), fresh), (now - timedelta(hours=2), old)):
        site.cluster.index(site.index("logs"), unstamped(at, pool), refresh=True)

    report = watcher(site).run_cycle(datetime.now(UTC))

    assert report.occurrences == 2
    assert {f"pool-disabled:{late}", f"pool-disabled:{fresh}"} <= set(issues(site))
    assert f"pool-disabled:{old}" not in issues(site)


def test_a_batch_held_back_by_a_write_block_is_seen_once_it_lands(
    sites: Callable[[str], Site], mailbox: tuple[Mailbox, int], es: Elasticsearch
) -> None:
    """Ingest runs but Elasticsearch refuses its batch (a write block) for longer than
    `watch.lag` while the watcher keeps cycling. The batch was encoded before the watcher's
    checkpoints moved on; when the block is lifted it is taken with the time of that send in
    `event.ingested`, so the next cycle finds its line (stamped at encoding only, it fell
    behind every window and was never evaluated)."""
    site = sites(watch_section(mailbox[1], lag="1s"))
    index, pool = site.index("logs"), "dcache-held-01"
    run = watcher(site)
    es.indices.put_settings(index=index, settings={"index.blocks.write": True})
    site.produce("logs", [log_line(T0 + seconds(10), pool, DISABLED)])
    codes: list[int] = []
    ingest = threading.Thread(target=lambda: codes.append(site.ingest(idle_exit=2.0)[0]))
    ingest.start()
    try:
        for step in range(8):  # 8 s of cycles: the checkpoint passes the batch's encoding
            assert run.run_cycle(T0 + seconds(20 + step)).occurrences == 0
            time.sleep(1)
    finally:
        es.indices.put_settings(index=index, settings={"index.blocks.write": False})
    ingest.join(timeout=120)
    assert codes == [0]
    assert site.count(index) == 1

    report = run.run_cycle(T0 + seconds(40))

    assert report.occurrences == 1
    assert f"pool-disabled:{pool}" in issues(site)
