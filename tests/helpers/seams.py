"""Small fakes of the pipeline's two seams (the Kafka source and the bulk sender) and a clock.

They record what the pipeline asks of them and let a test decide when a batch settles, so the
pipeline's ordering and lifecycle rules are checked without servers; the same rules are proven
against the real Kafka and Elasticsearch in tests/integration/.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from esbridge.ingest.kafka.base import Partition, PartitionsCallback
from esbridge.ingest.message import Message
from esbridge.ingest.sender import Batch, BatchResult


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
        return taken

    def commit(self, offsets: dict[Partition, int], *, blocking: bool = True) -> None:
        self.commits.append(dict(offsets))

    def pause(self) -> None:
        self.paused = True
        self.pauses += 1

    def resume(self) -> None:
        self.paused = False

    def drained(self) -> bool:
        return not self.backlog

    def lag(self) -> int | None:
        return len(self.backlog)

    def close(self) -> None:
        self.closed = True

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
            dead = sum(item.dead for item in batch.items)
            out.append(BatchResult(batch.offsets, len(batch.items) - dead, dead))
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
