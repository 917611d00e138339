"""The routes to a faster billing hot path that issue 15 asks to weigh, measured side by side.

    python benchmarks/alternatives.py [--count N] [--seed S] [--batch B] [--repeat R] [--json]

Same step and messages as benchmarks/hotpath.py (seeded simulator billing messages in memory,
B per call, `time.process_time`, best of R), billing's default route (`event.original` left
out), four ways:

- `python`: ingest's reference path, `encode.to_item` per message;
- `tuned-python`: the same transform with the generic steps inlined for billing (one `loads`,
  the mandatory check, the parser, the envelope and one `dumps`, the action line's constant
  parts built once);
- `msgspec`: `tuned-python` with msgspec's JSON reader and writer in place of orjson's
  (needs `pip install msgspec`; the row is left out when it is not installed);
- `native`: `esbridge._native`, one call per batch.

Every alternative must make the reference's bulk lines byte for byte (a dead letter: its
reason); the script counts the lines that differ and prints that count with the figures, so a
fast but different path shows.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib
import json
import sys
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from types import ModuleType
from typing import Any

import orjson
from hotpath import producer_route  # benchmarks/ is the script's own folder on sys.path

from esbridge.ingest.encode import BulkItem, DeadLetterTarget, Route, to_item
from esbridge.ingest.engine import Encoder, native_module
from esbridge.ingest.message import Message
from esbridge.simulate import mix

INGESTED = "2026-10-14T07:00:00.000Z"
TARGET = DeadLetterTarget("esbridge-deadletter", 4096)
Step = Callable[[list[Message], Route], list[BulkItem]]


def inlined(loads: Callable[[bytes], Any], dumps: Callable[[Any], bytes]) -> Step:
    """Billing's transform with the generic steps inlined; anything unusual goes to `to_item`."""

    def step(messages: list[Message], route: Route) -> list[BulkItem]:
        parser, context, producer = route.parser, route.context, route.producer
        head = b'{"create":{"_index":"' + route.index.encode() + b'","_id":"'
        tail = b'","require_alias":true}}\n'
        limit, blake2b = route.max_message_bytes, hashlib.blake2b
        items = []
        for message in messages:
            value = message.value
            try:
                if value is None or len(value) > limit:
                    raise ValueError
                record = loads(value)
                if (
                    not isinstance(record, dict)
                    or record.get("msgType") in (None, "")
                    or record.get("date") in (None, "")
                ):
                    raise ValueError
                doc = parser(record, context)
            except Exception:  # the reference decides every unusual case, dead letters too
                items.append(to_item(message, route, TARGET, INGESTED))
                continue
            digest = blake2b(value, digest_size=8).hexdigest()
            event = doc.get("event")
            if not isinstance(event, dict):
                event = doc["event"] = {}
            event["ingested"] = INGESTED
            event["hash"] = digest
            doc["producer"] = producer
            doc["kafka"] = {
                "topic": message.topic,
                "partition": message.partition,
                "offset": message.offset,
            }
            doc_id = f"{route.id_prefix}-{message.partition}-{message.offset}"
            line = head + doc_id.encode() + tail + dumps(doc) + b"\n"
            items.append(BulkItem(message, producer, line, False, doc_id, digest, INGESTED))
        return items

    return step


def outcome(item: BulkItem) -> bytes | str:
    """What must match: a document's bulk lines, or a dead letter's reason (its `@timestamp` is
    the time it was made)."""
    return item.reason if item.dead else item.line


def encoder_step(encoder: Encoder) -> Step:
    def step(messages: list[Message], route: Route) -> list[BulkItem]:
        return encoder.items(messages, {messages[0].topic: route}, TARGET, INGESTED)

    return step


def steps(native: ModuleType | None) -> dict[str, Step]:
    chosen: dict[str, Step] = {
        "python": lambda batch, route: [to_item(m, route, TARGET, INGESTED) for m in batch],
        "tuned-python": inlined(orjson.loads, orjson.dumps),
    }
    try:
        msgspec = importlib.import_module("msgspec")
    except ImportError:
        print("msgspec is not installed: its row is left out", file=sys.stderr)
    else:
        chosen["msgspec"] = inlined(msgspec.json.decode, msgspec.json.Encoder().encode)
    if native is not None:
        chosen["native"] = encoder_step(Encoder(native))
    return chosen


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--count", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--batch", type=int, default=5000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json", action="store_true")
    options = parser.parse_args()

    start = datetime(2026, 10, 14, 7, 0, tzinfo=UTC)
    stream = mix(options.count, seed=options.seed, start=start, kinds=("billing",))
    messages = [Message("dcache-billing", i % 3, i, v) for i, (_, v) in enumerate(stream)]
    batches = [messages[i : i + options.batch] for i in range(0, len(messages), options.batch)]
    route = replace(producer_route("billing"), event_original=False)  # billing's default

    reference = [outcome(i) for batch in batches for i in steps(None)["python"](batch, route)]
    figures: dict[str, dict[str, float | int]] = {}
    for name, step in steps(native_module()).items():
        lines = [outcome(item) for batch in batches for item in step(batch, route)]
        differing = sum(a != b for a, b in zip(lines, reference, strict=True))
        best = float("inf")
        for _ in range(options.repeat):
            began = time.process_time()
            for batch in batches:
                step(batch, route)
            best = min(best, time.process_time() - began)
        figures[name] = {
            "cpu_us_per_message": round(best / len(messages) * 1e6, 2),
            "differing_lines": differing,
        }
    if options.json:
        print(json.dumps({"count": len(messages), "batch": options.batch, "by_path": figures}))
        return 0
    print(f"{len(messages)} billing messages, {options.batch} per call, best of {options.repeat}")
    print("path           CPU-µs/message  lines differing from the reference")
    for name, row in figures.items():
        print(f"{name:14} {row['cpu_us_per_message']:14.2f}  {row['differing_lines']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
