"""Native vs Python over the same messages of one producer: the first difference, named."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from esbridge.ingest.encode import BulkItem, DeadLetterTarget, Route, to_item
from esbridge.ingest.engine import native_lines, native_module
from esbridge.ingest.message import Message
from esbridge.simulate import mix
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


def billing_route(
    *,
    mandatory: tuple[tuple[str, ...], ...] = (("msgType",), ("date",)),
    instance: str | None = "example-site",
    deterministic_ids: bool = True,
    max_message_bytes: int = 1024**2,
    original_max_bytes: int = 16 * 1024,
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
    )


def producer_route(
    parser: str,
    *,
    mandatory: tuple[tuple[str, ...], ...] = (),
    instance: str | None = "example-site",
    zone: str = "UTC",
    deterministic_ids: bool = True,
    max_message_bytes: int = 1024**2,
    original_max_bytes: int = 16 * 1024,
) -> Route:
    """The route of `parser`'s producer (named after it), with examples/dcache.yml's limits."""
    context = ParseContext(parser, log_timezone=ZoneInfo(zone), dcache_instance=instance)
    return Route(
        producer=parser,
        index=f"dcache-{parser}",
        parser=PARSERS[parser],
        context=context,
        mandatory=mandatory,
        deterministic_ids=deterministic_ids,
        max_message_bytes=max_message_bytes,
        original_max_bytes=original_max_bytes,
        id_prefix="AbCdEf12",
    )


def as_messages(values: Iterable[bytes | None], topic: str = TOPIC) -> list[Message]:
    return [Message(topic, offset % 3, offset, value) for offset, value in enumerate(values)]


def simulated(kind: str, count: int, seed: int, log_zone: str = "UTC") -> list[bytes]:
    """`count` messages of the simulator's `kind` stream (its log dates written in `log_zone`)."""
    stream = mix(count, seed=seed, start=SIM_START, kinds=(kind,), log_zone=log_zone)
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
        line, digest = made
        if python.dead or line != python.line or digest != python.digest:
            result.differences.append(
                f"offset {message.offset}: message {message.value!r}\n"
                f"  python ({'dead letter' if python.dead else 'document'}): {python.line!r}\n"
                f"  native: {line!r} hash {digest}"
            )
    return result
