"""Ingest's metrics, updated once per poll, batch or settled result, never per message: the
pipeline's hot path is budgeted in CPU-microseconds per message."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping

from prometheus_client import CollectorRegistry, Counter
from prometheus_client.core import CounterMetricFamily, Metric
from prometheus_client.registry import Collector

from esbridge.metrics.declare import BY_NAME, counter, gauge, histogram
from esbridge.metrics.health import IngestProgress

Partition = tuple[str, int]

INDEXED = "indexed"
REPLAY = "replay"
DEAD = "dead"
COLLISION = "collision"
"""The kinds of a settled record in a result's tally: (producer, kind, dead-letter reason)."""


class RetriesCollector(Collector):
    """`esbridge_retries_total{cause}` from counters the sender threads keep."""

    def __init__(self, retries: Callable[[], Mapping[str, int]]) -> None:
        self.retries = retries
        self.spec = BY_NAME["esbridge_retries_total"]

    def describe(self) -> Iterable[Metric]:
        return [CounterMetricFamily(self.spec.name, self.spec.help, labels=self.spec.labels)]

    def collect(self) -> Iterable[Metric]:
        family = CounterMetricFamily(self.spec.name, self.spec.help, labels=self.spec.labels)
        for cause, count in sorted(self.retries().items()):
            family.add_metric([cause], count)
        return [family]


class IngestMetrics:
    def __init__(
        self,
        registry: CollectorRegistry,
        retries: Callable[[], Mapping[str, int]],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """`retries`: retries by cause since start, read at each scrape (the sender threads
        count them as they decide them, before their batch settles, even before connecting)."""
        self.clock = clock
        self.progress = IngestProgress(started=clock())
        self.consumed = counter(registry, "esbridge_messages_consumed_total")
        self.indexed = counter(registry, "esbridge_documents_indexed_total")
        self.replays = counter(registry, "esbridge_replays_total")
        self.dead_letters = counter(registry, "esbridge_dead_letters_total")
        self.collisions = counter(registry, "esbridge_id_collisions_total")
        registry.register(RetriesCollector(retries))
        self.request_seconds = histogram(registry, "esbridge_bulk_request_seconds")
        self.batch_docs = histogram(registry, "esbridge_batch_documents")
        self.batch_bytes = histogram(registry, "esbridge_batch_bytes")
        self.bytes = counter(registry, "esbridge_bytes_consumed_total")
        self.lag_gauge = gauge(registry, "esbridge_consumer_lag")
        self.committed_gauge = gauge(registry, "esbridge_committed_offset")
        since = gauge(registry, "esbridge_seconds_since_last_commit")
        since.set_function(self.since_commit)
        self.paused_gauge = gauge(registry, "esbridge_backpressure_paused")
        self.buffered = gauge(registry, "esbridge_buffered_bytes")
        self.children: dict[tuple[str, ...], Counter] = {}
        self.lag_partitions: set[Partition] = set()

    def since_commit(self) -> float:
        last = self.progress.last_commit
        return self.clock() - (self.progress.started if last is None else last)

    def child(self, metric: Counter, *labels: str) -> Counter:
        key = (str(id(metric)), *labels)
        found = self.children.get(key)
        if found is None:
            found = self.children[key] = metric.labels(*labels)
        return found

    def polled(self, counts: Mapping[tuple[str, str, int], int]) -> None:
        """One poll's messages per (producer, topic, partition)."""
        for (producer, topic, partition), count in counts.items():
            self.child(self.consumed, producer, topic, str(partition)).inc(count)

    def batch(self, docs: int, nbytes: int) -> None:
        self.batch_docs.observe(docs)
        self.batch_bytes.observe(nbytes)
        self.bytes.inc(nbytes)

    def settled(self, tally: Mapping[tuple[str, str, str], int]) -> None:
        """One settled batch's records per (producer, kind, dead-letter reason)."""
        for (producer, kind, reason), count in tally.items():
            if kind == INDEXED:
                self.child(self.indexed, producer).inc(count)
            elif kind == REPLAY:
                self.child(self.replays, producer).inc(count)
            elif kind == COLLISION:
                self.child(self.collisions, producer).inc(count)
            else:
                self.child(self.dead_letters, producer, reason).inc(count)

    def requests(self, seconds: list[float]) -> None:
        for value in seconds:
            self.request_seconds.observe(value)

    def committed(self, offsets: Mapping[Partition, int]) -> None:
        self.progress.last_commit = self.clock()
        for (topic, partition), offset in offsets.items():
            self.committed_gauge.labels(topic, str(partition)).set(offset)

    def lag(self, per_partition: Mapping[Partition, int] | None) -> None:
        """The lag per partition as just asked of the broker; None when it could not be."""
        if per_partition is None:
            return
        for gone in self.lag_partitions - per_partition.keys():  # revoked: not ours to report
            self.lag_gauge.remove(gone[0], str(gone[1]))
        for (topic, partition), value in per_partition.items():
            self.lag_gauge.labels(topic, str(partition)).set(value)
        self.lag_partitions = set(per_partition)
        self.progress.lag = sum(per_partition.values())

    def paused(self, paused: bool, buffered: int) -> None:
        self.paused_gauge.set(1 if paused else 0)
        self.buffered.set(buffered)
