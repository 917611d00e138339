"""Small fakes of the pipeline's two seams (the Kafka source and the bulk sender), of the
sender's own seam (`SearchCluster.bulk` and `mget`) and a clock.

They record what the pipeline asks of them and let a test decide when a batch settles, so the
pipeline's ordering and lifecycle rules are checked without servers; the same rules are proven
against the real Kafka and Elasticsearch in tests/integration/.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from esbridge.cluster.errors import ClusterError, from_answer
from esbridge.ingest.kafka.base import Partition, PartitionsCallback
from esbridge.ingest.message import Message
from esbridge.ingest.sender import Batch, BatchResult, count_created
from esbridge.ingest.stats import SendCounters


@dataclass
class FakeClock:
    now: float = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclass
class FakeSource:
    """A consumer whose partitions hold the given messages; polls hand them out in order."""

    backlog: list[Message] = field(default_factory=list)
    partitions: set[Partition] = field(default_factory=lambda: {("billing", 0)})
    commits: list[dict[Partition, int]] = field(default_factory=list)
    paused: bool = False
    pauses: int = 0
    closed: bool = False
    on_revoked: PartitionsCallback | None = None
    on_assigned: PartitionsCallback | None = None
    polled_while_paused: list[bool] = field(default_factory=list)
    after_poll: Callable[[int], None] | None = None
    """Called with the number of polls so far: lets a test change the world mid-run."""
    ids: dict[str, str] = field(default_factory=dict)
    """Topic ids `topic_ids` reports; a topic missing here has none (Kafka before 2.8)."""
    id_lookups: list[set[str]] = field(default_factory=list)
    ids_error: Exception | None = None
    handed_out: dict[Partition, int] = field(default_factory=dict)
    """Per partition, the offset after the last message polled."""
    seeks: list[dict[Partition, int]] = field(default_factory=list)

    def subscribe(
        self, topics: list[str], on_revoked: PartitionsCallback, on_assigned: PartitionsCallback
    ) -> None:
        self.on_revoked, self.on_assigned = on_revoked, on_assigned
        on_assigned(set(self.partitions))

    def poll(self, timeout: float, max_records: int) -> list[Message]:
        self.polled_while_paused.append(self.paused)
        if self.after_poll is not None:
            self.after_poll(len(self.polled_while_paused))
        if self.paused:
            return []
        taken, self.backlog = self.backlog[:max_records], self.backlog[max_records:]
        for message in taken:
            key = (message.topic, message.partition)
            self.handed_out[key] = max(self.handed_out.get(key, 0), message.offset + 1)
        return taken

    def commit(self, offsets: dict[Partition, int], *, blocking: bool = True) -> None:
        self.commits.append(dict(offsets))

    def pause(self) -> None:
        self.paused = True
        self.pauses += 1

    def seek(self, offsets: dict[Partition, int]) -> None:
        """Records the seek and drops what lies before it, as a broker would not send it."""
        self.seeks.append(dict(offsets))
        self.backlog = [
            m for m in self.backlog if m.offset >= offsets.get((m.topic, m.partition), m.offset)
        ]

    def resume(self) -> None:
        self.paused = False

    def drained(self) -> bool:
        return not self.backlog

    def lag(self, committed: Mapping[Partition, int]) -> dict[Partition, int]:
        """End offsets (of what was handed out or waits) minus `committed`, or else the last
        offsets the fake saw committed."""
        ends: dict[Partition, int] = dict(self.handed_out)
        for message in self.backlog:
            key = (message.topic, message.partition)
            ends[key] = max(ends.get(key, 0), message.offset + 1)
        stored = self.committed()
        return {
            partition: max(
                0, ends.get(partition, 0) - committed.get(partition, stored.get(partition, 0))
            )
            for partition in self.partitions
        }

    def close(self) -> None:
        self.closed = True

    def topic_ids(self, topics: set[str]) -> dict[str, str]:
        self.id_lookups.append(set(topics))
        if self.ids_error is not None:
            raise self.ids_error
        return {topic: self.ids[topic] for topic in topics if topic in self.ids}

    def committed(self) -> dict[Partition, int]:
        """The last committed offset of each partition."""
        out: dict[Partition, int] = {}
        for commit in self.commits:
            out.update(commit)
        return out


@dataclass
class FakeSender:
    """Keeps every submitted batch until the test settles it; results come out in order."""

    submitted: list[Batch] = field(default_factory=list)
    settled: set[int] = field(default_factory=set)
    released: int = 0
    refusing: bool = False
    backlog_bytes: int = 0
    failure: Exception | None = None
    settle_on_submit: bool = False
    counters: SendCounters = field(default_factory=SendCounters)

    def submit(self, batch: Batch) -> None:
        self.submitted.append(batch)
        self.backlog_bytes += batch.nbytes
        if self.settle_on_submit:
            self.settle(len(self.submitted) - 1)

    def settle(self, number: int) -> None:
        self.settled.add(number)

    def results(self) -> list[BatchResult]:
        out = []
        while self.released in self.settled:
            batch = self.submitted[self.released]
            self.backlog_bytes -= batch.nbytes
            result = BatchResult(batch.offsets)
            count_created(batch.items, result)
            out.append(result)
            self.released += 1
        return out

    def retrying(self) -> bool:
        return self.refusing

    def idle(self) -> bool:
        return all(n in self.settled for n in range(len(self.submitted)))

    def close(self, timeout: float) -> bool:
        return self.idle()


def billing_messages(count: int, partition: int = 0, start: int = 0) -> list[Message]:
    """`count` valid billing records on `billing[partition]` from offset `start`."""
    return [
        Message(
            "billing",
            partition,
            offset,
            b'{"msgType":"remove","date":"2026-10-14T09:12:03.4+02:00","cellName":"p1",'
            b'"cellType":"pool"}',
        )
        for offset in range(start, start + count)
    ]


def cluster_error(status: int, error_type: str | None = None) -> ClusterError:
    """What the layer raises for a whole request refused with HTTP `status`."""
    body = {"error": {"type": error_type, "reason": "r"}, "status": status} if error_type else ""
    return from_answer("POST /_bulk", status, body)


@dataclass
class FakeCluster:
    """`bulk` (with `create` semantics) and `mget` of `SearchCluster`, by rules a test sets.

    Documents are kept as `{(index, id): source}`. `refuse` answers every request as a whole
    with that error; `max_body` answers larger bulk bodies with 413; `closed` indices answer
    each item with `index_closed_exception`; `unparseable` indices reject each document (400).
    `after` is called with the number of requests so far: lets a test change the world.
    """

    stored: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    refuse: ClusterError | None = None
    max_body: int | None = None
    closed: set[str] = field(default_factory=set)
    unparseable: set[str] = field(default_factory=set)
    mget_failures: int = 0
    requests: list[tuple[str, int]] = field(default_factory=list)
    after: Callable[[int], None] | None = None

    def request(self, path: str, size: int) -> None:
        self.requests.append((path, size))
        if self.after is not None:
            self.after(len(self.requests))
        if self.refuse is not None:
            raise self.refuse

    def bulk(self, body: bytes, *, filter_path: str | None = None) -> dict[str, Any]:
        self.request("/_bulk", len(body))
        if self.max_body is not None and len(body) > self.max_body:
            raise cluster_error(413)
        lines = body.split(b"\n")[:-1]
        items = [self.create(lines[i], lines[i + 1]) for i in range(0, len(lines), 2)]
        return {"errors": any("error" in i["create"] for i in items), "items": items}

    def create(self, action_line: bytes, source_line: bytes) -> dict[str, Any]:
        (action,) = orjson.loads(action_line).values()
        index, doc_id = action["_index"], action["_id"]
        if index in self.closed:
            return {"create": {"status": 400, "error": {"type": "index_closed_exception"}}}
        if index in self.unparseable:
            error = {"type": "document_parsing_exception", "reason": "failed to parse"}
            return {"create": {"status": 400, "error": error}}
        if (index, doc_id) in self.stored:
            error = {"type": "version_conflict_engine_exception", "index": index}
            return {"create": {"status": 409, "error": error}}
        self.stored[index, doc_id] = orjson.loads(source_line)
        return {"create": {"status": 201}}

    def mget(
        self, docs: list[dict[str, Any]], *, filter_path: str | None = None
    ) -> list[dict[str, Any]]:
        self.request("/_mget", len(docs))
        if self.mget_failures:
            self.mget_failures -= 1
            raise cluster_error(503, "unavailable_shards_exception")
        found = []
        for doc in docs:
            source = self.stored.get((doc["_index"], doc["_id"]))
            digest = (source or {}).get("event", {}).get("hash")
            entry: dict[str, Any] = {"found": source is not None}
            if digest is not None:
                entry["_source"] = {"event": {"hash": digest}}
            found.append(entry)
        return found
