"""Pool names Elasticsearch's limits cannot take whole: bounded ids, and skipping what it refuses.

Real Kafka, `esbridge ingest`, Elasticsearch and SMTP (aiosmtpd).
"""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import quote

import pytest

from esbridge.watch.lifecycle import issue_id
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


def pool_of(size: int, tag: str) -> str:
    """A pool name of `size` bytes, without a `-` (so the log helper makes its host short)."""
    return f"{tag}pool" + "x" * (size - len(tag) - 4)


def test_long_pool_names_become_issues_and_the_cycle_goes_on_past_one_it_cannot_store(
    sites: Callable[[str], Site], mailbox: tuple[Mailbox, int]
) -> None:
    """A 600-byte name (over the 512-byte `_id` limit) and a 10 KB one (over the 4 KB request
    line) become issues under bounded ids, with the whole name in the document. A 40 KB name is
    one Elasticsearch takes as no keyword term at all (the limit is 32 KB): looking up its pool
    snapshot is refused, as storing its issue would be. That occurrence is skipped, logged and
    counted, and the cycle goes on, so the normal incident beside them raises and mails, in this
    cycle and the next."""
    box = mailbox[0]
    site = sites(watch_section(mailbox[1]))
    ingest = site.config.ingest.model_copy(update={"max_message_bytes": 256 * 1024})
    site.config = site.config.model_copy(update={"ingest": ingest})
    normal, long, longer, huge = (
        "dcache-xfel497-01",
        pool_of(600, "a"),
        pool_of(10 * 1024, "b"),
        pool_of(40 * 1024, "c"),
    )
    feed(site, [log_line(T0, pool, DISABLED) for pool in (normal, long, longer, huge)])
    assert site.count(site.deadletter) == 0

    report = watcher(site).run_cycle(T0 + seconds(70))

    assert report.occurrences == 4
    huge_id = issue_id("pool-disabled", huge)
    assert [key for key, _ in report.skipped] == [huge_id]
    assert "longer than maximum indexable length" in report.skipped[0][1]
    expected = {issue_id("pool-disabled", pool): pool for pool in (normal, long, longer)}
    stored = issues(site)
    assert {key: doc["subject"]["name"] for key, doc in stored.items()} == expected
    for key in expected:
        assert len(key.encode()) < 512 and len(quote(key, safe="")) < 1024
    assert sorted(report.notified) == sorted(expected)
    assert len(box.messages) == 1
    text = box.texts()[0]
    assert f"{normal}Domain" in text
    assert "3 new, 0 resolved, 3 open" in str(box.messages[0]["Subject"])

    other = "dcache-xfel498-01"
    feed(site, [log_line(T0 + seconds(100), other, DISABLED)])
    later = watcher(site).run_cycle(T0 + seconds(200))
    assert later.notified == [issue_id("pool-disabled", other)], "alerting is still on"
    assert len(box.messages) == 2
