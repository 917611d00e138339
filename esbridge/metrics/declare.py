"""Every metric esbridge serves, declared once.

The daemons, the Grafana dashboard (`metrics/grafana.py`) and the table in docs/operations.md
all read `SPECS`, so a metric cannot exist in one and not the others (tests/unit/test_metrics.py).
Names follow the Prometheus conventions: an `esbridge_` prefix, base units (`_seconds`,
`_bytes`), `_total` on counters.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

Kind = Literal["counter", "gauge", "histogram"]
Daemon = Literal["ingest", "watch", "maintain", "poll", "react", "archive", "all"]

PRODUCER = ("producer",)
PARTITION = ("producer", "topic", "partition")

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
DOCS_BUCKETS = (1, 10, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 25000)
BYTES_BUCKETS = tuple(float(2**n) for n in range(10, 26, 2))
CYCLE_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0)


@dataclass(frozen=True)
class MetricSpec:
    name: str
    kind: Kind
    help: str
    daemon: Daemon
    labels: tuple[str, ...] = ()
    buckets: tuple[float, ...] = ()


SPECS: tuple[MetricSpec, ...] = (
    MetricSpec("esbridge_up", "gauge", "1 while the daemon runs; its labels name it.", "all",
               ("daemon", "version")),
    MetricSpec("esbridge_healthy", "gauge", "1 when /healthz answers ok, 0 when it answers 503.",
               "all"),
    MetricSpec("esbridge_messages_consumed_total", "counter",
               "Kafka messages read, counted per poll.", "ingest", PARTITION),
    MetricSpec("esbridge_documents_indexed_total", "counter",
               "Documents newly written to the producer's index (not replays, not dead letters).",
               "ingest", PRODUCER),
    MetricSpec("esbridge_replays_total", "counter",
               "Records found already stored with the same content hash (a 409 on a re-read).",
               "ingest", PRODUCER),
    MetricSpec("esbridge_dead_letters_total", "counter",
               "Records written to the dead-letter index, by error.type.", "ingest",
               ("producer", "reason")),
    MetricSpec("esbridge_id_collisions_total", "counter",
               "Records whose id another record held, stored under <id>~<hash>.", "ingest",
               PRODUCER),
    MetricSpec("esbridge_retries_total", "counter",
               "Items (or connection attempts) sent again, counted when the retry is decided, "
               "by cause.", "ingest", ("cause",)),
    MetricSpec("esbridge_bulk_request_seconds", "histogram",
               "Duration of one _bulk request, answer or failure.", "ingest",
               buckets=LATENCY_BUCKETS),
    MetricSpec("esbridge_batch_documents", "histogram", "Items in a batch handed to a sender.",
               "ingest", buckets=DOCS_BUCKETS),
    MetricSpec("esbridge_batch_bytes", "histogram", "Bulk body bytes of a batch.", "ingest",
               buckets=BYTES_BUCKETS),
    MetricSpec("esbridge_bytes_consumed_total", "counter",
               "Bulk body bytes built from the consumed messages.", "ingest"),
    MetricSpec("esbridge_consumer_lag", "gauge",
               "Messages between the broker's end offset and the committed offset.", "ingest",
               ("topic", "partition")),
    MetricSpec("esbridge_committed_offset", "gauge",
               "The offset esbridge last committed.", "ingest", ("topic", "partition")),
    MetricSpec("esbridge_seconds_since_last_commit", "gauge",
               "Seconds since ingest last committed offsets (since start before the first).",
               "ingest"),
    MetricSpec("esbridge_backpressure_paused", "gauge",
               "1 while fetching is paused because Elasticsearch pushes back.", "ingest"),
    MetricSpec("esbridge_buffered_bytes", "gauge",
               "Bulk bytes submitted and not yet settled.", "ingest"),
    MetricSpec("esbridge_watch_cycle_seconds", "histogram", "Duration of one watch cycle.",
               "watch", buckets=CYCLE_BUCKETS),
    MetricSpec("esbridge_watch_cycles_total", "counter", "Watch cycles, by outcome.", "watch",
               ("outcome",)),
    MetricSpec("esbridge_watch_last_success_timestamp_seconds", "gauge",
               "Unix time the last cycle ended without error.", "watch"),
    MetricSpec("esbridge_watch_occurrences_total", "counter",
               "Rule matches applied to issues.", "watch"),
    MetricSpec("esbridge_issues", "gauge", "Issues in the issues index, by status.", "watch",
               ("status",)),
    MetricSpec("esbridge_notifications_total", "counter",
               "Digests sent or failed (all channels at once), by outcome.", "watch",
               ("outcome",)),
    MetricSpec("esbridge_actions_total", "counter",
               "Rule actions, by outcome: run, or refused (not started).", "watch",
               ("outcome",)),
    MetricSpec("esbridge_maintain_passes_total", "counter",
               "Maintain passes, by outcome.", "maintain", ("outcome",)),
    MetricSpec("esbridge_maintain_pass_seconds", "histogram", "Duration of one maintain pass.",
               "maintain", buckets=CYCLE_BUCKETS),
    MetricSpec("esbridge_maintain_rollovers_total", "counter", "Write aliases rolled over.",
               "maintain"),
    MetricSpec("esbridge_maintain_deletions_total", "counter", "Expired indices deleted.",
               "maintain"),
    MetricSpec("esbridge_maintain_skipped_total", "counter",
               "Aliases skipped (not esbridge's, or another manager's).", "maintain"),
    MetricSpec("esbridge_maintain_last_success_timestamp_seconds", "gauge",
               "Unix time the last pass ended without error.", "maintain"),
    MetricSpec("esbridge_poll_cycles_total", "counter",
               "Poll cycles, by outcome (failed: nothing published).", "poll", ("outcome",)),
    MetricSpec("esbridge_poll_cycle_seconds", "histogram",
               "Duration of one poll cycle (pool list, usages, publishing).", "poll",
               buckets=CYCLE_BUCKETS),
    MetricSpec("esbridge_poll_snapshots_published_total", "counter",
               "Pool snapshots published to Kafka.", "poll"),
    MetricSpec("esbridge_poll_pools", "gauge",
               "Pools in the last good cycle, by state: cached, or uncached (no usage data).",
               "poll", ("state",)),
    MetricSpec("esbridge_poll_last_success_timestamp_seconds", "gauge",
               "Unix time the last cycle published its snapshots.", "poll"),
    MetricSpec("esbridge_react_messages_total", "counter",
               "Messages a reactor read, by reactor.", "react", ("reactor",)),
    MetricSpec("esbridge_react_matched_total", "counter",
               "Messages that matched a reactor's conditions, by reactor.", "react",
               ("reactor",)),
    MetricSpec("esbridge_react_actions_total", "counter",
               "Actions that ended, by reactor and outcome (ok, failed for good).", "react",
               ("reactor", "outcome")),
    MetricSpec("esbridge_react_refused_total", "counter",
               "Messages refused (a hostile path, not JSON), each a dead letter, by reactor.",
               "react", ("reactor",)),
    MetricSpec("esbridge_archive_messages_consumed_total", "counter",
               "Kafka messages the archiver read.", "archive"),
    MetricSpec("esbridge_archive_records_total", "counter",
               "Records in files put in place, by kind: parsed, or unparsed (raw and error).",
               "archive", ("kind",)),
    MetricSpec("esbridge_archive_files_total", "counter",
               "Archive files renamed into place.", "archive"),
    MetricSpec("esbridge_archive_records_skipped_total", "counter",
               "Messages below a partition's recovered offset: already in the archive.",
               "archive"),
    MetricSpec("esbridge_archive_records_buffered", "gauge",
               "Records read and not yet in a file (so not committed).", "archive"),
)  # fmt: skip

BY_NAME = {spec.name: spec for spec in SPECS}


def exposed_names(spec: MetricSpec) -> tuple[str, ...]:
    """The series names Prometheus stores for `spec` (a histogram's `_bucket`, `_sum`, ...)."""
    if spec.kind == "histogram":
        return tuple(f"{spec.name}{tail}" for tail in ("_bucket", "_sum", "_count"))
    return (spec.name,)


def counter(registry: CollectorRegistry, name: str) -> Counter:
    spec = _spec(name, "counter")
    return Counter(spec.name, spec.help, spec.labels, registry=registry)


def gauge(registry: CollectorRegistry, name: str) -> Gauge:
    spec = _spec(name, "gauge")
    return Gauge(spec.name, spec.help, spec.labels, registry=registry)


def histogram(registry: CollectorRegistry, name: str) -> Histogram:
    spec = _spec(name, "histogram")
    return Histogram(spec.name, spec.help, spec.labels, registry=registry, buckets=spec.buckets)


def family(name: str) -> CounterMetricFamily | GaugeMetricFamily:
    """An empty family of a declared counter or gauge, for a collector that reads a daemon's
    own counts at scrape time."""
    spec = BY_NAME[name]
    if spec.kind == "counter":
        return CounterMetricFamily(spec.name.removesuffix("_total"), spec.help, labels=spec.labels)
    if spec.kind == "gauge":
        return GaugeMetricFamily(spec.name, spec.help, labels=spec.labels)
    raise ValueError(f"{name} is a {spec.kind}: collectors give counters and gauges only")


def _spec(name: str, kind: Kind) -> MetricSpec:
    spec = BY_NAME[name]
    if spec.kind != kind:
        raise ValueError(f"{name} is declared a {spec.kind}, not a {kind}")
    return spec
