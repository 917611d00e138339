"""Several bulk requests in flight against the real node, results still released in order."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import pytest
from elasticsearch import Elasticsearch

from esbridge.ingest.encode import BulkItem, DeadLetterTarget, action_line
from esbridge.ingest.message import Message
from esbridge.ingest.sender import Batch, BulkSender


def batch(index: str, topic: str, first_offset: int, count: int) -> Batch:
    items = [
        BulkItem(
            Message(topic, 0, offset, b"{}"),
            "billing",
            action_line(index, f"{topic}-0-{offset}") + b'{"n":%d}\n' % offset,
            dead=False,
        )
        for offset in range(first_offset, first_offset + count)
    ]
    return Batch(items, sum(len(i.line) for i in items), {(topic, 0): first_offset + count})


def wait_for_count(es: Elasticsearch, index: str, expected: int) -> None:
    """Polls (bounded) until `index` holds `expected` documents; fails the test otherwise."""
    for _ in range(300):
        es.indices.refresh(index=index)
        if es.count(index=index)["count"] == expected:
            return
        time.sleep(0.1)
    pytest.fail(f"{index} never reached {expected} documents")


@pytest.fixture
def sender(es: Elasticsearch, unique_name: Callable[[str], str]) -> Iterator[BulkSender]:
    target = DeadLetterTarget(unique_name("sink-dead"), 4096)
    sender = BulkSender(es, target, initial_backoff=0.05, max_backoff=0.2, workers=2)
    yield sender
    sender.close(timeout=5)


def test_later_batch_settled_first_is_held_until_the_earlier_one_settles(
    es: Elasticsearch, sender: BulkSender, unique_name: Callable[[str], str]
) -> None:
    blocked, free = unique_name("sink-blocked"), unique_name("sink-free")
    es.indices.create(index=blocked, settings={"index.blocks.write": True})
    es.indices.create(index=free)

    sender.submit(batch(blocked, "t", 0, 10))  # refused with cluster_block_exception: retried
    sender.submit(batch(free, "t", 10, 10))
    wait_for_count(es, free, 10)  # the second batch is in Elasticsearch...

    assert sender.results() == []  # ...but its offsets are not handed back before the first's
    assert sender.retrying()

    es.indices.put_settings(index=blocked, settings={"index.blocks.write": False})
    assert sender.wait_idle(timeout=30)
    results = sender.results()

    assert [result.offsets for result in results] == [{("t", 0): 10}, {("t", 0): 20}]
    assert [result.indexed for result in results] == [10, 10]
    assert results[0].retried >= 10
    assert not sender.retrying()
    wait_for_count(es, blocked, 10)


def test_many_batches_through_two_senders_come_back_in_submission_order(
    es: Elasticsearch, sender: BulkSender, unique_name: Callable[[str], str]
) -> None:
    index = unique_name("sink-order")
    for number in range(40):
        sender.submit(batch(index, "t", number * 25, 25))

    assert sender.wait_idle(timeout=60)
    offsets = [result.offsets[("t", 0)] for result in sender.results()]

    assert offsets == [25 * (number + 1) for number in range(40)]
    assert sender.backlog_bytes == 0
    wait_for_count(es, index, 1000)
