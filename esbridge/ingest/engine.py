"""Which code turns a batch of Kafka messages into bulk items: the compiled path or Python.

`esbridge._native` (native/, Rust) covers all four producers (billing, logs, access,
poolinfo): one call per batch of one topic, handing back `None` for every message it cannot
prove identical to the Python reference (every dead letter among them), which `to_item` then
handles. A log line's own date is read in `log_timezone` through a table of that zone's
offsets that zoneinfo itself makes (`log_zone_table`), so zone rules stay Python's; dates
outside the table's years are among the deferred. tests/unit/test_native_differential.py and
tests/unit/test_native_producers.py hold the two engines to byte-identical bulk lines.
"""

from __future__ import annotations

import importlib
import logging
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from operator import itemgetter
from types import ModuleType
from zoneinfo import ZoneInfo

from esbridge.config import Config
from esbridge.errors import EsbridgeError
from esbridge.ingest.encode import BulkItem, DeadLetterTarget, Route, to_item
from esbridge.ingest.message import Message
from esbridge.transforms import PARSERS, ParserName

log = logging.getLogger("esbridge.ingest")

NATIVE_PARSERS: frozenset[ParserName] = frozenset({"billing", "logs", "access", "poolinfo"})
"""The producers' parsers the native engine implements (`esbridge._native.<name>_lines`); the
others stay on Python."""

UTC_ZONES = frozenset({"UTC", "Etc/UTC"})
"""`log_timezone`s that need no table: every wall time is its UTC time."""
LOG_ZONE_YEARS = (1990, 2060)
"""The local years `log_zone_table` covers (from the first, up to the second); a log line
dated outside them is read by Python."""

ZoneTable = tuple[int, int, list[int], list[int]]
NativeResults = list[tuple[bytes, str, str] | None]
"""Per message `(bulk lines, event.hash, doc id)`, or None where Python decides."""

TOPIC, PARTITION, OFFSET, VALUE = itemgetter(0), itemgetter(1), itemgetter(2), itemgetter(3)
"""A `Message`'s fields read in C (it is a NamedTuple): the extension takes them as lists."""

_NATIVE_NAMES = {PARSERS[name]: name for name in NATIVE_PARSERS}


def native_module() -> ModuleType | None:
    """The extension, or None when this install was built without a Rust toolchain."""
    try:
        return importlib.import_module("esbridge._native")
    except ImportError:
        return None


@dataclass
class Encoder:
    """Messages -> bulk items, in order; `native` is the extension when the native engine runs."""

    native: ModuleType | None = None
    native_items: int = 0
    deferred: int = 0
    """Messages the native engine handed to Python (dead letters and unproven cases)."""

    @property
    def engine(self) -> str:
        return "python" if self.native is None else "native"

    def items(
        self,
        messages: list[Message],
        routes: dict[str, Route],
        target: DeadLetterTarget,
        ingested: str,
    ) -> list[BulkItem]:
        topics = set(map(TOPIC, messages))
        if len(topics) == 1:  # the common poll: one topic, no reordering to do
            return self.topic_items(messages, routes[topics.pop()], target, ingested)
        items: list[BulkItem | None] = [None] * len(messages)
        by_topic: dict[str, list[int]] = {}
        for i, message in enumerate(messages):
            by_topic.setdefault(message.topic, []).append(i)
        for topic, indices in by_topic.items():
            made = self.topic_items([messages[i] for i in indices], routes[topic], target, ingested)
            for i, item in zip(indices, made, strict=True):
                items[i] = item
        return [item for item in items if item is not None]

    def topic_items(
        self, messages: list[Message], route: Route, target: DeadLetterTarget, ingested: str
    ) -> list[BulkItem]:
        """One topic's messages, in order: one call into the extension when it covers the
        topic's parser, Python for what it hands back (and for every other parser)."""
        name = _NATIVE_NAMES.get(route.parser)
        if self.native is None or name is None:
            return [to_item(m, route, target, ingested) for m in messages]
        results = native_lines(self.native, name, messages, messages[0].topic, route, ingested)
        producer = route.producer
        items = [
            to_item(m, route, target, ingested)
            if r is None
            else BulkItem(m, producer, r[0], False, r[2], r[1], ingested)
            for m, r in zip(messages, results, strict=True)
        ]
        deferred = results.count(None)
        self.deferred += deferred
        self.native_items += len(messages) - deferred
        return items


def billing_lines(
    native: ModuleType, messages: list[Message], topic: str, route: Route, ingested: str
) -> NativeResults:
    """One call into the extension for a batch of one topic's billing messages: per message
    its bulk lines, content hash and id, or None where Python must decide (the differential
    tests call it too, so they test exactly what ingest runs)."""
    results: NativeResults = native.billing_lines(
        list(map(VALUE, messages)),
        list(map(PARTITION, messages)),
        list(map(OFFSET, messages)),
        topic,
        route.producer,
        route.index,
        route.id_prefix,
        route.deterministic_ids,
        route.context.dcache_instance,
        [list(path) for path in route.mandatory],
        route.max_message_bytes,
        route.original_max_bytes,
        ingested,
        route.event_original,
    )
    return results


def native_lines(
    native: ModuleType,
    parser: str,
    messages: list[Message],
    topic: str,
    route: Route,
    ingested: str,
) -> NativeResults:
    """`billing_lines`' counterpart for any parser in NATIVE_PARSERS: one call into
    `esbridge._native.<parser>_lines` for a batch of one topic's messages. The others take
    `log_timezone`'s table too (only logs uses it)."""
    if parser == "billing":
        return billing_lines(native, messages, topic, route, ingested)
    results: NativeResults = getattr(native, f"{parser}_lines")(
        list(map(VALUE, messages)),
        list(map(PARTITION, messages)),
        list(map(OFFSET, messages)),
        topic,
        route.producer,
        route.index,
        route.id_prefix,
        route.deterministic_ids,
        route.context.dcache_instance,
        [list(path) for path in route.mandatory],
        route.max_message_bytes,
        route.original_max_bytes,
        ingested,
        log_zone_table(route.context.log_timezone),
        route.event_original,
    )
    return results


@lru_cache(maxsize=16)
def log_zone_table(zone: ZoneInfo) -> ZoneTable:
    """`zone` as `parse_log_timestamp` reads a wall time (fold=0: a repeated hour as its first
    occurrence, a skipped one with the offset before), for native/src/logs.rs: `(start, end,
    walls, offsets)`, local seconds since 1970 with wall times in `[start, end)` at offset
    `offsets[i]`, `i` the number of `walls` at or before it.

    Made from zoneinfo's own UTC offsets, sampled every 6 hours across LOG_ZONE_YEARS and
    bisected to the second where they change; zoneinfo's fold=0 wall time of a change is its
    instant plus the larger of the two offsets. (~0.2 s once per zone.)
    """
    if zone.key in UTC_ZONES:
        return (-(2**63), 2**63 - 1, [], [0])
    epoch = datetime(1970, 1, 1)
    start, end = (int((datetime(y, 1, 1) - epoch).total_seconds()) for y in LOG_ZONE_YEARS)

    def offset(instant: int) -> int:
        moment = datetime.fromtimestamp(instant, zone).utcoffset()
        return int(moment.total_seconds()) if moment is not None else 0

    step = 6 * 3600
    instant = start - 2 * 86_400
    offsets = [offset(instant)]
    walls: list[int] = []
    while instant < end + 2 * 86_400:
        after = offset(instant + step)
        if after != offsets[-1]:
            low, high = instant, instant + step
            while high - low > 1:
                middle = (low + high) // 2
                low, high = (middle, high) if offset(middle) == offsets[-1] else (low, middle)
            walls.append(high + max(offsets[-1], after))
            offsets.append(after)
        instant += step
    return (start, end, walls, offsets)


def select_encoder(config: Config, native: ModuleType | None = None) -> Encoder:
    """`ingest.engine`, or native when the extension is built; one log line says which runs."""
    module = native if native is not None else native_module()
    wanted = config.ingest.engine
    if wanted == "native" and module is None:
        raise EsbridgeError(
            "ingest.engine: native, but esbridge._native is not built (reinstall esbridge "
            "with a Rust toolchain on PATH, or set ingest.engine: python)"
        )
    if wanted == "python" or module is None:
        why = "ingest.engine: python" if wanted == "python" else "esbridge._native not built"
        log.info("ingest engine: python for every producer (%s)", why)
        return Encoder()
    on_native = [p.name for p in config.producers if p.parser in NATIVE_PARSERS]
    on_python = [p.name for p in config.producers if p.parser not in NATIVE_PARSERS]
    log.info(
        "ingest engine: native for %s; python for %s",
        ",".join(on_native) or "-",
        ",".join(on_python) or "-",
    )
    return Encoder(module)
