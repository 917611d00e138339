"""Native vs Python over the same messages of one producer: the first difference, named."""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import orjson

from esbridge.ingest.encode import BulkItem, DeadLetterTarget, Route, to_item
from esbridge.ingest.engine import native_lines, native_module
from esbridge.ingest.message import Message
from esbridge.simulate import mix
from esbridge.simulate.poolinfo import POLL_INTERVAL
from esbridge.simulate.site import SiteModel
from esbridge.transforms import PARSERS, ParseContext

NATIVE = native_module()
NOT_BUILT = (
    "esbridge._native is not built (no cargo when esbridge was installed); "
    "reinstall with `pip install -e .[dev]` on a machine with a Rust toolchain"
)
INGESTED = "2026-10-14T07:00:00.123Z"
TOPIC = "dcache-billing"
TARGET = DeadLetterTarget("esbridge-deadletter", 4096)
SIM_START = datetime(2026, 10, 14, 7, 0, tzinfo=UTC)
MANDATORY = {
    "billing": (("msgType",), ("date",)),
    "logs": (("message",),),
    "access": (("message",),),
    "poolinfo": (("pool",), ("@timestamp",)),
}
"""examples/dcache.yml's `mandatory_fields` per producer."""


def billing_route(
    *,
    mandatory: tuple[tuple[str, ...], ...] = (("msgType",), ("date",)),
    instance: str | None = "example-site",
    deterministic_ids: bool = True,
    max_message_bytes: int = 1024**2,
    original_max_bytes: int = 16 * 1024,
    event_original: bool = True,
) -> Route:
    return Route(
        producer="billing",
        index="dcache-billing",
        parser=PARSERS["billing"],
        context=ParseContext("billing", dcache_instance=instance),
        mandatory=mandatory,
        deterministic_ids=deterministic_ids,
        max_message_bytes=max_message_bytes,
        original_max_bytes=original_max_bytes,
        id_prefix="AbCdEf12",
        event_original=event_original,
    )


def producer_route(
    parser: str,
    *,
    mandatory: tuple[tuple[str, ...], ...] | None = None,
    instance: str | None = "example-site",
    zone: str = "UTC",
    deterministic_ids: bool = True,
    max_message_bytes: int = 1024**2,
    original_max_bytes: int = 16 * 1024,
) -> Route:
    """The route of `parser`'s producer (named after it), with examples/dcache.yml's mandatory
    fields and limits unless given."""
    context = ParseContext(parser, log_timezone=ZoneInfo(zone), dcache_instance=instance)
    return Route(
        producer=parser,
        index=f"dcache-{parser}",
        parser=PARSERS[parser],
        context=context,
        mandatory=MANDATORY[parser] if mandatory is None else mandatory,
        deterministic_ids=deterministic_ids,
        max_message_bytes=max_message_bytes,
        original_max_bytes=original_max_bytes,
        id_prefix="AbCdEf12",
    )


def as_messages(values: Iterable[bytes | None], topic: str = TOPIC) -> list[Message]:
    return [Message(topic, offset % 3, offset, value) for offset, value in enumerate(values)]


def simulated(kind: str, count: int, seed: int, log_zone: str = "UTC") -> list[bytes]:
    """`count` messages of the simulator's `kind` stream (its log dates written in `log_zone`).

    Poolinfo comes by the clock (each pool every POLL_INTERVAL), so its stream is simulated
    slowly enough for `count` snapshots to fall within the span."""
    rate = 0.9 * len(SiteModel.default().pools) / POLL_INTERVAL if kind == "poolinfo" else 100.0
    stream = mix(count, seed=seed, start=SIM_START, kinds=(kind,), log_zone=log_zone, rate=rate)
    return [m for _, m in stream]


def simulated_billing(count: int, seed: int) -> list[bytes]:
    return simulated("billing", count, seed)


@dataclass
class Comparison:
    """What the two engines made of the same messages."""

    native_lines: int = 0
    deferred_documents: list[Message] = field(default_factory=list)
    deferred_dead: int = 0
    differences: list[str] = field(default_factory=list)

    def first_difference(self) -> str:
        return self.differences[0] if self.differences else ""


def compare(messages: list[Message], route: Route, parser: str = "billing") -> Comparison:
    """Every native line equals Python's; a `None` from native must be Python's to decide."""
    assert NATIVE is not None, NOT_BUILT
    result = Comparison()
    topic = messages[0].topic if messages else TOPIC
    native = native_lines(NATIVE, parser, messages, topic, route, INGESTED)
    for message, made in zip(messages, native, strict=True):
        python: BulkItem = to_item(message, route, TARGET, INGESTED)
        if made is None:
            if python.dead:
                result.deferred_dead += 1
            else:
                result.deferred_documents.append(message)
            continue
        result.native_lines += 1
        line, digest, doc_id = made
        if python.dead or (line, digest, doc_id) != (python.line, python.digest, python.doc_id):
            result.differences.append(
                f"offset {message.offset}: message {message.value!r}\n"
                f"  python ({'dead letter' if python.dead else 'document'}): {python.line!r}\n"
                f"  native: {line!r} hash {digest} id {doc_id}"
            )
    return result


ODD_VALUES: list[Any] = [
    None,
    True,
    0,
    -1,
    1.5,
    1e16,
    2**63,
    2**64 - 1,
    "",
    "x",
    '\u2028\u00e9\U0001f600\u0301\x00\x1f\x7f"\\/',
    "2026-10-14T07:00:00Z",
    "2026-10-14T07:00:00.123456789-0800",
    "2026-10-14 07:00:00Z",
    "0001-01-01T00:00:00+01:00",
    "9999-12-31T23:59:59-01:00",
    "enabled",
    "disabled(fetch,,store)",
    "disabled(): why: because",
    ["a", 1],
    [],
    {},
    {"name": "n", "path": "/var/log/dcache/xDomain.log"},
    {"file": {"path": "/var/log/dcache/webdavDomain.access"}},
    {"identifier": "dcache@"},
]
"""Values a fuzz mutation puts under a key: every JSON type and the edges of each parser."""


def mutate_record(
    raw: bytes, rng: random.Random, keys: list[str], texts: Callable[[random.Random], str]
) -> bytes:
    """One random mutation of a real message: truncation, a type change or odd value under one
    of `keys`, an odd `message` text from `texts`, huge numbers, deep nesting, a duplicate key
    or an odd string escape."""
    choice = rng.randrange(8)
    if choice == 0 or len(raw) < 2:
        return raw[: rng.randrange(len(raw) or 1)]
    record = orjson.loads(raw)
    if not isinstance(record, dict) or not record:
        return raw
    if choice == 1:
        record[rng.choice(keys)] = rng.choice(ODD_VALUES)
    elif choice == 2:
        record["message"] = texts(rng)
    elif choice == 3:
        key = rng.choice(list(record))
        text = orjson.dumps(record).decode()
        huge = rng.choice(["123456789012345678901234567890", "1e400", "-0", "-9223372036854775809"])
        return text.replace(f'"{key}":', f'"{key}":{huge},"{key}_":', 1).encode()
    elif choice == 4:
        depth = rng.choice([5, 127, 130, 2000])
        record[rng.choice(keys)] = orjson.loads("[" * depth + "]" * depth)
    elif choice == 5:
        key = rng.choice(list(record))
        return raw[:-1] + b',"' + key.encode() + b'":' + orjson.dumps(rng.choice(ODD_VALUES)) + b"}"
    elif choice == 6:
        escapes = ['"\\ud800"', '"\\udc00x"', '"\\ud83d\\ude00"', '"\\u00e9\\n\\/"', '"\\u0000"']
        key = rng.choice(list(record))
        text = orjson.dumps(record).decode()
        return text.replace(f'"{key}":', f'"{key}":{rng.choice(escapes)},"x{key}":', 1).encode()
    else:
        record["@timestamp"] = rng.choice([v for v in ODD_VALUES if isinstance(v, str)])
    return orjson.dumps(record)


def fuzz_corpus(
    real: list[bytes],
    count: int,
    seed: int,
    keys: list[str],
    texts: Callable[[random.Random], str],
) -> list[bytes | None]:
    """`count` messages, each a real one after one to three `mutate_record` steps."""
    rng = random.Random(seed)
    corpus: list[bytes | None] = []
    for _ in range(count):
        raw = rng.choice(real)
        for _ in range(rng.randrange(1, 4)):
            try:
                raw = mutate_record(raw, rng, keys, texts)
            except orjson.JSONDecodeError:
                break  # a truncation already made it unreadable
        corpus.append(raw)
    return corpus


def mutated_text(rng: random.Random, real: list[str], pieces: list[str]) -> str:
    """A real `message` text cut, spliced with one of `pieces`, or with one character swapped."""
    text = rng.choice(real)
    cut = rng.randrange(len(text) + 1)
    choice = rng.randrange(4)
    if choice == 0:
        return text[:cut]
    if choice == 1:
        return text[:cut] + rng.choice(pieces) + text[cut:]
    if choice == 2:
        return text[:cut] + rng.choice(pieces) + text[cut + rng.randrange(8) :]
    return rng.choice(pieces) + " " + text
