"""The bulk sender against the real node: several requests in flight with results still
released in order, and 409s told apart as replays or other records under the same id."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import pytest
from elasticsearch import Elasticsearch

from esbridge.cluster.search import SearchCluster
from esbridge.ingest.encode import BulkItem, DeadLetterTarget, action_line, content_hash
from esbridge.ingest.message import Message
from esbridge.ingest.sender import Batch, BulkSender


def batch(index: str, topic: str, first_offset: int, count: int, tag: bytes = b"") -> Batch:
    """Documents `{"n": offset, "event": {"hash": ...}}`; `tag` makes them other records."""
    items = []
    for offset in range(first_offset, first_offset + count):
        value = b"%s%d" % (tag, offset)
        digest = content_hash(value)
        doc_id = f"{topic}-0-{offset}"
        source = b'{"n":%d,"tag":"%s","event":{"hash":"%s"}}\n' % (offset, tag, digest.encode())
        message = Message(topic, 0, offset, value)
        line = action_line(index, doc_id) + source
        items.append(BulkItem(message, "billing", line, dead=False, doc_id=doc_id, digest=digest))
    return Batch(items, sum(len(i.line) for i in items), {(topic, 0): first_offset + count})


def write_alias(es: Elasticsearch, name: str, **settings: object) -> None:
    """`name` as esbridge writes to it: an alias (ingest sends `require_alias`)."""
    es.indices.create(
        index=f"{name}-000001", aliases={name: {"is_write_index": True}}, settings=settings
    )


def wait_for_count(es: Elasticsearch, index: str, expected: int) -> None:
    """Polls (bounded) until `index` holds `expected` documents; fails the test otherwise."""
    for _ in range(300):
        es.indices.refresh(index=index)
        if es.count(index=index)["count"] == expected:
            return
        time.sleep(0.1)
    pytest.fail(f"{index} never reached {expected} documents")


@pytest.fixture(scope="module")
def cluster(es_url: str) -> Iterator[SearchCluster]:
    connected = SearchCluster.connect([es_url], request_timeout=60)
    yield connected
    connected.close()


@pytest.fixture
def sender(cluster: SearchCluster, unique_name: Callable[[str], str]) -> Iterator[BulkSender]:
    target = DeadLetterTarget(unique_name("sink-dead"), 4096)
    sender = BulkSender(cluster, target, initial_backoff=0.05, max_backoff=0.2, workers=2)
    yield sender
    sender.close(timeout=5)


def test_later_batch_settled_first_is_held_until_the_earlier_one_settles(
    es: Elasticsearch, sender: BulkSender, unique_name: Callable[[str], str]
) -> None:
    blocked, free = unique_name("sink-blocked"), unique_name("sink-free")
    write_alias(es, blocked, **{"index.blocks.write": True})
    write_alias(es, free)

    sender.submit(batch(blocked, "t", 0, 10))  # refused with cluster_block_exception: retried
    sender.submit(batch(free, "t", 10, 10))
    wait_for_count(es, free, 10)  # the second batch is in Elasticsearch...

    assert sender.results() == []  # ...but its offsets are not handed back before the first's
    assert sender.retrying()

    es.indices.put_settings(index=f"{blocked}-000001", settings={"index.blocks.write": False})
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
    write_alias(es, index)
    for number in range(40):
        sender.submit(batch(index, "t", number * 25, 25))

    assert sender.wait_idle(timeout=60)
    offsets = [result.offsets[("t", 0)] for result in sender.results()]

    assert offsets == [25 * (number + 1) for number in range(40)]
    assert sender.backlog_bytes == 0
    wait_for_count(es, index, 1000)


def test_a_409_is_a_replay_only_for_the_same_record_another_gets_an_id_of_its_own(
    es: Elasticsearch, sender: BulkSender, unique_name: Callable[[str], str]
) -> None:
    """What a re-created topic without topic id, or two clusters' topics of one name, look
    like to Elasticsearch: other records under ids that exist. Read back with `_mget`."""
    index = unique_name("sink-conflict")
    write_alias(es, index)
    # the records, their replay after a crash, other records under the same ids, their replay
    for tag in (b"", b"", b"other", b"other"):
        sender.submit(batch(index, "t", 0, 50, tag=tag))
        assert sender.wait_idle(timeout=60)  # one after the other: the first write wins
    results = sender.results()

    assert [(r.indexed, r.duplicates, r.collisions) for r in results] == [
        (50, 0, 0),
        (0, 50, 0),
        (50, 0, 50),
        (0, 50, 50),
    ]
    wait_for_count(es, index, 100)
    es.indices.refresh(index=index)
    hits = es.search(index=index, size=200, query={"match": {"tag": "other"}})["hits"]["hits"]
    assert {hit["_id"] for hit in hits} == {
        f"t-0-{offset}~{content_hash(b'other%d' % offset)}" for offset in range(50)
    }
