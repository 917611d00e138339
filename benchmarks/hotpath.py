"""Hot-path microbenchmark: CPU-µs per message of message -> bulk line, per engine.

    python benchmarks/hotpath.py [--count N] [--seed S] [--batch B] [--repeat R] [--json]
    python benchmarks/hotpath.py --producer billing|logs|access|poolinfo|all [--count N] ...

Times only the step issue 15 moves to Rust: seeded billing messages (made before timing, in
memory) turned into bulk items by `esbridge.ingest.engine.Encoder`, `B` messages per call as
ingest's batches are, once per engine (`python`: `to_item` per message; `native`:
`esbridge._native.billing_lines` per batch plus building the `BulkItem`s), each with
`event.original` kept and left out (`-no-original`). No Kafka, no Elasticsearch:
`time.process_time` of this process, best of R runs. `--producer` measures that producer's
simulated stream instead (`all`: each of the four in turn, one table), its log dates written in
UTC, the zone the native engine reads them in.
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


PRODUCERS = ("billing", "logs", "access", "poolinfo")
MANDATORY = {
    "billing": (("msgType",), ("date",)),
    "logs": (("message",),),
    "access": (("message",),),
    "poolinfo": (("pool",), ("@timestamp",)),
}
"""examples/dcache.yml's `mandatory_fields` per producer."""


def producer_route(name: str) -> Route:
    """`name`'s route as examples/dcache.yml configures it (log dates in UTC)."""
    return Route(
        producer=name,
        index=f"dcache-{name}",
        parser=PARSERS[name],
        context=ParseContext(name, dcache_instance="example-site"),
        mandatory=MANDATORY[name],
        deterministic_ids=name == "billing",
        max_message_bytes=1024**2,
        original_max_bytes=16 * 1024,
        id_prefix="AbCdEf12",
    )


def producer_figures(name: str, options: argparse.Namespace) -> dict[str, object]:
    """CPU-µs per message of `name`'s simulated stream, per engine."""
    start = datetime(2026, 10, 14, 7, 0, tzinfo=UTC)
    # poolinfo comes by the clock, one snapshot per pool and 900 s: slow enough for `count`
    rate = 0.02 if name == "poolinfo" else 100.0
    stream = mix(
        options.count, seed=options.seed, start=start, kinds=(name,), log_zone="UTC", rate=rate
    )
    values = [m for _, m in stream]
    topic = f"dcache-{name}"
    messages = [Message(topic, i % 3, i, v) for i, v in enumerate(values)]
    batches = [messages[i : i + options.batch] for i in range(0, len(messages), options.batch)]
    routes = {topic: producer_route(name)}
    engines = {"python": Encoder()}
    native = native_module()
    if native is not None:
        engines["native"] = Encoder(native)
    figures: dict[str, object] = {
        "count": len(messages),
        "mean_message_bytes": round(sum(map(len, values)) / max(1, len(values))),
    }
    for engine, encoder in engines.items():
        best = min(run(encoder, batches, routes) for _ in range(options.repeat))
        figures[engine] = round(best / len(messages) * 1e6, 2)
        if engine == "native":
            figures["deferred_to_python"] = encoder.deferred // options.repeat
    return figures


def per_producer(options: argparse.Namespace) -> int:
    """`--producer`: one row per producer, both engines."""
    names = PRODUCERS if options.producer == "all" else (options.producer,)
    rows = {name: producer_figures(name, options) for name in names}
    if options.json:
        print(json.dumps({"batch": options.batch, "by_producer": rows}))
        return 0
    print(f"{options.batch} messages per call; CPU-µs per message, best of {options.repeat}")
    print("producer  messages  bytes   python   native  speed-up  deferred")
    for name, row in rows.items():
        native = row.get("native")
        speedup = f"{row['python'] / native:7.1f}x" if isinstance(native, float) else "      -"
        shown = f"{native:8.2f}" if isinstance(native, float) else "       -"
        print(
            f"{name:9} {row['count']:8} {row['mean_message_bytes']:6} {row['python']:8.2f}"
            f" {shown} {speedup}  {row.get('deferred_to_python', '-')}"
        )
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--count", type=int, default=200_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--batch", type=int, default=5000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--producer", choices=[*PRODUCERS, "all"])
    options = parser.parse_args()
    if options.producer is not None:
        return per_producer(options)
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
