"""`esbridge watch` against the real Elasticsearch and a real SMTP server (aiosmtpd).

Log lines go through Kafka and `esbridge ingest` like production traffic; the watcher's clock
is passed in, so a test steps through delays of minutes without sleeping.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from esbridge.notify.dispatch import Notifier
from tests.helpers.sites import Site
from tests.helpers.watching import (
    T0,
    Mailbox,
    feed,
    free_port,
    issues,
    log_line,
    seconds,
    snapshot,
    watch_section,
    watcher,
)

pytestmark = pytest.mark.integration

POOL = "dcache-xfel497-01"
ISSUE = f"pool-disabled:{POOL}"


def test_a_disabled_pool_is_one_issue_and_one_mail_then_resolved_finalized_and_deleted(
    watched: Site, mailbox: tuple[Mailbox, int]
) -> None:
    box = mailbox[0]
    feed(
        watched,
        [log_line(T0, POOL, "Pool mode changed to disabled(): Operator intervention")],
        (snapshot(T0 - seconds(30), POOL, ["xfel", "xfel-raw"], "xfel497"),),
    )
    watched.count(watched.index("poolinfo"))
    first = watcher(watched)

    early = first.run_cycle(T0 + seconds(10))
    assert early.occurrences == 1
    assert box.messages == []
    issue = issues(watched)[ISSUE]
    assert issue["status"] == "unresolved"
    assert issue["subject"]["pool_groups"] == ["xfel", "xfel-raw"]
    assert issue["subject"]["host"] == "xfel497"

    due = first.run_cycle(T0 + seconds(70))
    assert due.notified == [ISSUE]
    assert len(box.messages) == 1
    text = box.texts()[0]
    row = next(line for line in text.splitlines() if "PoolDisabled" in line)
    assert f"{POOL}Domain" in row
    assert "xfel, xfel-raw" in row
    assert "unresolved" in row
    assert "Pool mode changed to disabled(): Operator intervention" in row
    assert "2025-03-01 10:00:00 UTC" in row
    assert "1 new, 0 resolved, 1 open" in str(box.messages[0]["Subject"])

    again = first.run_cycle(T0 + seconds(80))
    assert again.notified == []
    assert len(box.messages) == 1
    assert issues(watched)[ISSUE]["count"] == 1, "the overlapping window counted the line twice"

    feed(watched, [log_line(T0 + seconds(100), POOL, "Pool mode changed to enabled")])
    resolved = first.run_cycle(T0 + seconds(110))
    assert resolved.notified == [ISSUE]
    assert issues(watched)[ISSUE]["status"] == "resolved"
    assert len(box.messages) == 2
    assert "resolved" in next(line for line in box.texts()[1].splitlines() if POOL in line)

    first.run_cycle(T0 + seconds(100 + 120))
    assert issues(watched)[ISSUE]["status"] == "finalized"
    gone = first.run_cycle(T0 + seconds(100 + 120 + 60))
    assert gone.deleted == [ISSUE]
    assert ISSUE not in issues(watched)
    assert len(box.messages) == 2


def test_a_restart_within_the_delay_sends_no_mail(
    sites: Callable[[str], Site], mailbox: tuple[Mailbox, int]
) -> None:
    """The lines arrive as they are logged; `watch.lag` is 1 s because this test's minutes pass
    in a few real seconds: with the default 2 minutes of ingest time, every cycle would read
    all three lines again and re-create the issue after its deletion (a line that late would)."""
    site = sites(watch_section(mailbox[1], lag="1s"))
    dead = "disabled(fetch,store,stage,p2p-client,p2p-server,dead)"
    feed(site, [log_line(T0, POOL, f"Pool mode changed to {dead}: Shutdown")])
    run = watcher(site)
    run.run_cycle(T0 + seconds(30))
    feed(
        site,
        [
            log_line(
                T0 + seconds(40),
                POOL,
                "Pool mode changed to disabled(fetch,store,stage,p2p-client,p2p-server): "
                "Awaiting initialization",
            ),
            log_line(T0 + seconds(41), POOL, "Pool mode changed to enabled"),
        ],
    )
    for step in (45, 90, 45 + 120, 45 + 180, 45 + 240):
        run.run_cycle(T0 + seconds(step))
    assert mailbox[0].messages == []
    assert ISSUE not in issues(site), "finalized and deleted without a word"


def test_an_oddity_waits_for_a_digest_and_a_no_delay_issue_is_mailed_at_once(
    watched: Site, mailbox: tuple[Mailbox, int]
) -> None:
    box = mailbox[0]
    broken = (
        f"Marking 0000A1B2C3 on {POOL} as BROKEN: Checksum mismatch (expected=1:6a, actual=1:0b)"
    )
    feed(watched, [log_line(T0, POOL, broken)])
    run = watcher(watched)
    run.run_cycle(T0 + seconds(10))
    run.run_cycle(T0 + seconds(3000))
    assert box.messages == []
    assert issues(watched)[f"broken-file:{POOL}"]["status"] == "oddity"

    down = "Pool cms-pool017 declared as DOWN: no ping in 600 seconds."
    feed(watched, [log_line(T0 + seconds(3000), "cms-pool017", down, cell="PoolManager")])
    report = run.run_cycle(T0 + seconds(3001))
    assert sorted(report.notified) == [f"broken-file:{POOL}", "pool-declared-down:cms-pool017"]
    assert len(box.messages) == 1
    text = box.texts()[0]
    assert "no-delay" in text
    assert "oddity" in text

    run.run_cycle(T0 + seconds(3002))
    assert len(box.messages) == 1, "each status is mailed once"


def test_a_temporary_issue_is_mailed_after_the_delay_and_resolves_after_its_ttl(
    watched: Site, mailbox: tuple[Mailbox, int]
) -> None:
    box = mailbox[0]
    feed(
        watched,
        [
            log_line(
                T0,
                POOL,
                "Restarting due to fatal JVM error: java.lang.OutOfMemoryError",
                cell="System",
            )
        ],
    )
    run = watcher(watched)
    key = f"fatal-jvm-error:{POOL}Domain"
    run.run_cycle(T0 + seconds(10))
    assert issues(watched)[key]["status"] == "temporary"
    run.run_cycle(T0 + seconds(61))
    assert len(box.messages) == 1
    run.run_cycle(T0 + seconds(3601))
    assert issues(watched)[key]["status"] == "resolved"
    assert len(box.messages) == 2


def test_a_failed_send_marks_nothing_and_is_retried_next_cycle(
    watched: Site, mailbox: tuple[Mailbox, int]
) -> None:
    feed(watched, [log_line(T0, POOL, "Pool mode changed to disabled(): Operator intervention")])
    broken = watched.config.notifications
    assert broken is not None and broken.smtp is not None
    dead_smtp = broken.model_copy(
        update={"smtp": broken.smtp.model_copy(update={"port": free_port()})}
    )
    failing = watcher(watched)
    failing.notifier = Notifier(dead_smtp)
    report = failing.run_cycle(T0 + seconds(70))
    assert report.error is not None and report.notified == []
    stored = issues(watched)[ISSUE]
    assert stored["notified_at"] is None
    assert stored["watcher"]["claim_token"] is None, "the claim was released"

    retried = watcher(watched).run_cycle(T0 + seconds(80))
    assert retried.notified == [ISSUE]
    assert len(mailbox[0].messages) == 1
