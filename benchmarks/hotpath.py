"""Hot-path microbenchmark: CPU-µs per message of message -> bulk line, per engine.

    python benchmarks/hotpath.py [--count N] [--seed S] [--batch B] [--repeat R] [--json]

Times only the step issue 15 moves to Rust: seeded billing messages (made before timing, in
memory) turned into bulk items by `esbridge.ingest.engine.Encoder`, `B` messages per call as
ingest's batches are, once per engine (`python`: `to_item` per message; `native`:
`esbridge._native.billing_lines` per batch plus building the `BulkItem`s), each with
`event.original` kept and left out (`-no-original`). No Kafka, no
Elasticsearch: `time.process_time` of this process, best of R runs. Logs, access and poolinfo
are not measured: the native engine does not cover them, so both engines run the same code.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import UTC, datetime

from esbridge.ingest.encode import DeadLetterTarget, Route
from esbridge.ingest.engine import Encoder, native_module
from esbridge.ingest.message import Message
from esbridge.simulate import mix
from esbridge.transforms import PARSERS, ParseContext

TOPIC = "dcache-billing"


def route(event_original: bool) -> Route:
    """The billing route as examples/dcache.yml configures it, with or without `event.original`
    (issue 15 item 4: off is billing's default)."""
    return Route(
        producer="billing",
        index="dcache-billing",
        parser=PARSERS["billing"],
        context=ParseContext("billing", dcache_instance="example-site"),
        mandatory=(("msgType",), ("date",)),
        deterministic_ids=True,
        max_message_bytes=1024**2,
        original_max_bytes=16 * 1024,
        id_prefix="AbCdEf12",
        event_original=event_original,
    )


def run(encoder: Encoder, batches: list[list[Message]], routes: dict[str, Route]) -> float:
    target = DeadLetterTarget("esbridge-deadletter", 4096)
    start = time.process_time()
    for batch in batches:
        encoder.items(batch, routes, target, "2026-10-14T07:00:00.000Z")
    return time.process_time() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--count", type=int, default=200_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--batch", type=int, default=5000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json", action="store_true")
    options = parser.parse_args()
    start = datetime(2026, 10, 14, 7, 0, tzinfo=UTC)
    values = [m for _, m in mix(options.count, seed=options.seed, start=start, kinds=("billing",))]
    messages = [Message(TOPIC, i % 3, i, v) for i, v in enumerate(values)]
    batches = [messages[i : i + options.batch] for i in range(0, len(messages), options.batch)]
    native = native_module()
    engines: dict[str, tuple[Encoder, dict[str, Route]]] = {}
    for suffix, kept in (("", True), ("-no-original", False)):
        routes = {TOPIC: route(kept)}
        engines["python" + suffix] = (Encoder(), routes)
        if native is not None:
            engines["native" + suffix] = (Encoder(native), routes)
    result: dict[str, object] = {
        "count": len(messages),
        "batch": options.batch,
        "mean_message_bytes": round(sum(map(len, values)) / len(values)),
        "native_built": native is not None,
        "by_engine": {},
    }
    by_engine: dict[str, dict[str, float]] = {}
    for name, (encoder, routes) in engines.items():
        best = min(run(encoder, batches, routes) for _ in range(options.repeat))
        by_engine[name] = {"cpu_us_per_message": round(best / len(messages) * 1e6, 2)}
        if name.startswith("native"):
            by_engine[name]["deferred_to_python"] = encoder.deferred // options.repeat
    result["by_engine"] = by_engine
    if options.json:
        print(json.dumps(result))
        return 0
    print(f"{len(messages)} billing messages, {options.batch} per call", file=sys.stderr)
    for name, figures in by_engine.items():
        print(f"{name:20} {figures['cpu_us_per_message']:8.2f} CPU-µs/message")
    for suffix in ("", "-no-original"):
        if "native" + suffix in by_engine:
            python = by_engine["python" + suffix]["cpu_us_per_message"]
            ratio = python / by_engine["native" + suffix]["cpu_us_per_message"]
            print(f"native{suffix} is {ratio:.1f}x faster than python{suffix}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
