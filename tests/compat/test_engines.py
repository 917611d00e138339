"""What a site runs, against each engine of `ESBRIDGE_COMPAT_ENGINES`: the compatibility suite.

The main suite runs on Elasticsearch 9; this module runs the operator's path on the others
(Elasticsearch 8, OpenSearch 2 and 3 by default), each a real node of the pinned test
distribution: `esbridge setup` twice, ingest of every sample and every kind of bad message
with exact accounting, `esbridge ingest` killed with SIGKILL mid-stream and restarted, the
watcher's paged reads, two watchers at once mailing each issue once through a real SMTP
server, `esbridge watch --once` followed by `esbridge issues list --json`, and `esbridge
maintain` rolling over and deleting (the tests of tests/integration/test_maintain.py, imported
below). Kafka is the session's broker. Run it with `pytest -m compat tests/compat`.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest
from click.testing import CliRunner

from esbridge.cli import main
from esbridge.cluster.search import SearchCluster
from esbridge.ingest.encode import content_hash
from esbridge.watch.engine import CycleReport, Watcher
from esbridge.watch.reader import hits
from tests.compat.conftest import Engine
from tests.helpers.sites import PARSERS, Site
from tests.helpers.watching import T0, Mailbox, feed, issues, log_line, watch_section, watcher
from tests.integration.test_maintain import (
    site,
    test_an_alias_that_was_never_set_up_is_skipped_and_the_run_fails,
    test_maintain_loop_passes_until_sigterm_then_exits_0,
    test_maintain_rolls_over_deletes_what_expired_and_keeps_the_write_index_and_foreign_ones,
)

__all__ = [
    "site",
    "test_an_alias_that_was_never_set_up_is_skipped_and_the_run_fails",
    "test_maintain_loop_passes_until_sigterm_then_exits_0",
    "test_maintain_rolls_over_deletes_what_expired_and_keeps_the_write_index_and_foreign_ones",
]
"""`esbridge maintain`'s tests (tests/integration/test_maintain.py) run here too, against this
suite's `cluster` of each engine, so rollover and deletion are proven on all four."""

pytestmark = pytest.mark.compat

BAD = {
    "json_decode": b'{"msgType": "transfer", "date": ',
    "not_utf8": b'{"msgType": "transfer", "cellName": "\xff\xfe"}',
    "oversize": orjson.dumps(
        {"msgType": "transfer", "date": "2026-10-14T09:12:03Z", "x": "y" * 9000}
    ),
    "missing_field": b'{"msgType": "transfer"}',
    "bad_timestamp": b'{"msgType": "transfer", "date": "14/10/2026"}',
    "rejected": orjson.dumps(
        {"msgType": "transfer", "date": "2026-10-14T09:12:03Z", "fileSize": "eight gigabytes"}
    ),
    "not_an_object": b'"just a string"',
}
"""One message of every kind that must become a dead letter (as in tests/integration)."""

POOLS = [f"dcache-xfel{n}-01" for n in range(490, 494)]
DISABLED = "Pool mode changed to disabled(): Operator intervention"


def esbridge(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "esbridge", *args],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def sample_lines(samples_dir: Path, parser: str) -> list[bytes]:
    return [line for line in (samples_dir / f"{parser}.jsonl").read_bytes().splitlines() if line]


def wait_for(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.2)
    pytest.fail(f"timed out after {timeout:.0f}s waiting for {what}")


def mailed_pools(box: Mailbox) -> list[str]:
    """Each pool named in a table row of any mail, once per row."""
    return [
        pool
        for text in box.texts()
        for line in text.splitlines()
        for pool in POOLS
        if f"{pool}Domain" in line
    ]


def test_setup_twice_the_second_run_changes_nothing(
    engine: Engine, sites: Callable[..., Site]
) -> None:
    site = sites(setup=False)

    first = esbridge("setup", "-c", str(site.config_path), "--json")
    second = esbridge("setup", "-c", str(site.config_path), "--json")

    assert first.returncode == 0, first.stderr
    assert second.returncode == 0, second.stderr
    done, again = json.loads(first.stdout), json.loads(second.stdout)
    assert [(c["kind"], c["name"]) for c in again] == [(c["kind"], c["name"]) for c in done]
    assert {c["action"] for c in done if c["kind"] != "write_alias"} <= {"created", "skipped"}
    assert {c["action"] for c in again} <= {"unchanged", "skipped"}, second.stdout
    assert [c["name"] for c in done if c["action"] == "skipped"] == [
        c["name"] for c in done if c["kind"].endswith("_policy")
    ], "the test distributions have neither ILM nor ISM: their policies are skipped"
    for parser in PARSERS:
        assert site.cluster.alias_exists(site.index(parser)), engine.name
    assert site.cluster.alias_exists(site.deadletter)


def test_every_sample_and_every_bad_message_is_its_document_or_its_dead_letter(
    sites: Callable[..., Site], samples_dir: Path
) -> None:
    site = sites()
    samples = {parser: sample_lines(samples_dir, parser) for parser in PARSERS}
    good = samples["billing"]
    sent = {**samples, "billing": [*good[:5], *BAD.values(), *good[5:]]}
    for parser, values in sent.items():
        site.produce(parser, values)
    messages = sum(map(len, sent.values()))

    code, stats = site.ingest()

    assert code == 0
    assert stats.consumed == messages
    assert (stats.indexed, stats.dead_letters) == (messages - len(BAD), len(BAD))
    letters = {doc["kafka"]["offset"]: doc for doc in site.docs(site.deadletter)}
    assert sorted(letters) == list(range(5, 5 + len(BAD)))
    for position, (error_type, raw) in enumerate(BAD.items(), start=5):
        assert letters[position]["error"]["type"] == error_type
        assert letters[position]["deadletter"]["payload_size"] == len(raw)
    assert "billing.file_size" in letters[5 + list(BAD).index("rejected")]["error"]["message"]
    for parser, values in sent.items():
        dead = set(letters) if parser == "billing" else set()
        docs = site.docs(site.index(parser))
        assert {doc["_id"] for doc in docs} == {
            f"{site.id_prefix(parser)}-0-{offset}"
            for offset in range(len(values))
            if offset not in dead
        }, "every message is its document or its dead letter, once"
        for doc in docs:  # billing and poolinfo leave event.original out: hash the sent value
            assert doc["event"]["hash"] == content_hash(values[doc["kafka"]["offset"]])
        assert site.committed(parser) == len(values)


def test_ingest_killed_mid_stream_then_restarted_stores_every_message_exactly_once(
    sites: Callable[..., Site], samples_dir: Path
) -> None:
    site = sites()
    total = 30_000
    lines = sample_lines(samples_dir, "billing")
    index = site.index("billing")
    site.produce("billing", [lines[n % len(lines)] for n in range(total)])

    first = site.ingest_process()
    wait_for(lambda: site.count(index) > 0, 120, "the first documents")
    first.kill()
    first.wait(timeout=30)
    at_kill = site.count(index)
    committed_at_kill = site.committed("billing") or 0
    second = site.ingest_process("--idle-exit", "5")
    output = second.communicate(timeout=300)[0].decode()

    assert 0 < at_kill < total, "the kill must land mid-stream"
    assert committed_at_kill <= at_kill, "offsets were committed before the cluster had the docs"
    assert second.returncode == 0, output[-3000:]
    assert site.count(index) == total
    aggs = site.cluster.search(
        index,
        {
            "size": 0,
            "aggs": {
                "low": {"min": {"field": "kafka.offset"}},
                "high": {"max": {"field": "kafka.offset"}},
            },
        },
    )["aggregations"]
    assert (aggs["low"]["value"], aggs["high"]["value"]) == (0, total - 1)
    assert site.count(site.deadletter) == 0
    assert site.committed("billing") == total


def test_the_reader_pages_lines_of_one_timestamp_each_exactly_once(
    sites: Callable[..., Site], cluster: SearchCluster
) -> None:
    """Lines with one `@timestamp` across page boundaries: the tie-breaker after the sort
    (`_shard_doc`, or the Kafka coordinates and `_seq_no` on OpenSearch 2) must neither skip
    nor repeat one. Five lines have no Kafka coordinates (written by another writer)."""
    site = sites()
    index = site.index("logs")
    at = "2026-10-14T07:59:00.000Z"
    lines = []
    for n in range(30):
        doc: dict[str, object] = {"@timestamp": at, "message": f"line {n}", "n": n}
        if n >= 5:
            doc["kafka"] = {"topic": site.topic("logs"), "partition": 0, "offset": 100 - n}
        action = {"create": {"_index": index, "_id": f"line-{n}", "require_alias": True}}
        lines += [orjson.dumps(action), orjson.dumps(doc)]
    answer = cluster.bulk(b"\n".join(lines) + b"\n", refresh=True)
    assert answer["errors"] is False
    body = {"query": {"match_all": {}}, "sort": [{"@timestamp": "asc"}], "_source": ["n"]}

    seen = [doc["n"] for doc in hits(cluster, index, body, page=4)]

    assert sorted(seen) == list(range(30))


def test_two_watchers_at_once_mail_each_issue_once(
    sites: Callable[..., Site], mailbox: tuple[Mailbox, int]
) -> None:
    site = sites(watch_section(mailbox[1]))
    lines = [log_line(T0 + timedelta(seconds=n), pool, DISABLED) for n, pool in enumerate(POOLS)]
    feed(site, lines)
    pair = [watcher(site), watcher(site)]
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
    stored = issues(site)
    assert {doc["count"] for doc in stored.values()} == {1}
    assert all(len(doc["history"]) == 1 for doc in stored.values()), "a transition was doubled"


def test_watch_once_mails_a_digest_and_issues_list_shows_the_issue(
    sites: Callable[..., Site], mailbox: tuple[Mailbox, int]
) -> None:
    site = sites(watch_section(mailbox[1]))
    pool = POOLS[0]
    site.produce("logs", [log_line(datetime.now(UTC) - timedelta(minutes=5), pool, DISABLED)])
    assert site.ingest()[0] == 0

    watched = CliRunner().invoke(main, ["watch", "-c", str(site.config_path), "--once"])
    listed = CliRunner().invoke(main, ["issues", "list", "-c", str(site.config_path), "--json"])

    assert watched.exit_code == 0, watched.output
    assert "1 notified" in watched.stderr
    assert len(mailbox[0].messages) == 1
    assert mailed_pools(mailbox[0]) == [pool]
    assert listed.exit_code == 0, listed.output
    found = json.loads(listed.stdout)
    assert [(issue["id"], issue["status"]) for issue in found] == [
        (f"pool-disabled:{pool}", "unresolved")
    ]
    assert found[0]["notified_status"] == "unresolved"
