"""CPU the metrics add per message: `python benchmarks/metrics_overhead.py`.

Times, per message of a 5,000-message poll, what the pipeline does for the metrics that it did
not do before: counting a poll per (producer, topic, partition) and a settled batch per
(producer, reason), against the `sum()` the sender did before. The hot path's budget is about
65 CPU-µs per message today (15 planned); this must stay well below 1 µs.
"""

from __future__ import annotations

import timeit
from types import SimpleNamespace

from prometheus_client import CollectorRegistry

from esbridge.ingest.encode import BulkItem
from esbridge.ingest.message import Message
from esbridge.ingest.pipeline import Pipeline
from esbridge.ingest.sender import BatchResult, count_created
from esbridge.metrics.ingest import IngestMetrics

MESSAGES = 5000
ROUNDS = 200


def main() -> None:
    messages = [Message("billing", n % 3, n, b"x") for n in range(MESSAGES)]
    items = [BulkItem(m, "billing", b"line", False, "id", "hash") for m in messages]
    pipeline = SimpleNamespace(routes={"billing": SimpleNamespace(producer="billing")})
    metrics = IngestMetrics(CollectorRegistry(), retries=dict)

    def poll() -> None:
        metrics.polled(Pipeline.per_partition(pipeline, messages))  # type: ignore[arg-type]

    def settle() -> None:
        result = BatchResult({})
        count_created(items, result)
        metrics.settled(result.tally)

    def settle_before() -> None:
        sum(item.dead for item in items)

    timings = {}
    for name, run in (("poll", poll), ("settle", settle), ("settle before", settle_before)):
        best = min(timeit.repeat(run, number=ROUNDS, repeat=5))
        timings[name] = best / ROUNDS / MESSAGES * 1e6
        print(f"{name}: {timings[name]:.3f} µs/message")
    added = timings["poll"] + timings["settle"] - timings["settle before"]
    print(f"added by the metrics: {added:.3f} µs/message")


if __name__ == "__main__":
    main()
