"""Kafka message -> bulk item: decode, validate, transform, envelope, serialise once.

Every message becomes exactly one item: a document for its producer's index, or a dead letter.
Nothing a message contains can raise out of here, so one poison message never stops the rest.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from esbridge.ingest.deadletter import dead_letter
from esbridge.ingest.message import Message
from esbridge.transforms import DeadLetterReason, ParseContext, ParseError, Parser


@dataclass(frozen=True)
class Route:
    """How messages of one producer's topics become documents."""

    producer: str
    index: str
    parser: Parser
    context: ParseContext
    mandatory: tuple[tuple[str, ...], ...]
    deterministic_ids: bool
    max_message_bytes: int
    original_max_bytes: int


@dataclass(frozen=True)
class DeadLetterTarget:
    index: str
    payload_max_bytes: int


@dataclass(slots=True)
class BulkItem:
    """One action+source pair of a bulk body, with what is needed to dead-letter it later."""

    message: Message
    producer: str
    line: bytes
    dead: bool


def decode(value: bytes | None, max_bytes: int) -> dict[str, Any]:
    if value is None:
        raise ParseError("not_an_object", "the message has no value (a tombstone)")
    if len(value) > max_bytes:
        raise ParseError(
            "oversize", f"the message is {len(value)} bytes, above ingest.max_message_bytes"
        )
    try:
        record = orjson.loads(value)
    except orjson.JSONDecodeError as exc:
        try:
            value.decode("utf-8")
        except UnicodeDecodeError as bad:
            raise ParseError("not_utf8", f"not UTF-8 at byte {bad.start}") from None
        raise ParseError("json_decode", f"invalid JSON: {exc}") from None
    if not isinstance(record, dict):
        raise ParseError("not_an_object", f"a JSON {type(record).__name__}, not an object")
    return record


def missing_fields(record: dict[str, Any], mandatory: tuple[tuple[str, ...], ...]) -> list[str]:
    missing = []
    for path in mandatory:
        node: Any = record
        for key in path:
            node = node.get(key) if isinstance(node, dict) else None
        if node is None or node == "":
            missing.append(".".join(path))
    return missing


def envelope(doc: dict[str, Any], message: Message, route: Route, ingested: str) -> None:
    """Provenance and the original text: added here so every producer carries them alike."""
    raw = message.value or b""
    event = doc.get("event")
    if not isinstance(event, dict):
        event = doc["event"] = {}
    if len(raw) > route.original_max_bytes:
        event["original"] = raw[: route.original_max_bytes].decode("utf-8", errors="ignore")
        event["truncated"] = True
    else:
        event["original"] = raw.decode("utf-8")
    event["ingested"] = ingested
    doc["producer"] = route.producer
    doc["kafka"] = {
        "topic": message.topic,
        "partition": message.partition,
        "offset": message.offset,
    }


def document(message: Message, route: Route, ingested: str) -> dict[str, Any]:
    """The document for `message`, or ParseError naming why there is none."""
    record = decode(message.value, route.max_message_bytes)
    missing = missing_fields(record, route.mandatory)
    if missing:
        raise ParseError("missing_field", "mandatory field(s) missing: " + ", ".join(missing))
    try:
        doc = route.parser(record, route.context)
    except ParseError:
        raise
    except Exception as exc:  # a record of an unexpected shape must not stop the pipeline
        raise ParseError("parse_error", f"{type(exc).__name__}: {exc}") from None
    envelope(doc, message, route, ingested)
    return doc


def action_line(index: str, doc_id: str | None) -> bytes:
    if doc_id is None:
        return b'{"index":{"_index":"' + index.encode() + b'"}}\n'
    return b'{"create":{"_index":"' + index.encode() + b'","_id":"' + doc_id.encode() + b'"}}\n'


def to_item(message: Message, route: Route, target: DeadLetterTarget, ingested: str) -> BulkItem:
    try:
        doc = document(message, route, ingested)
        source = orjson.dumps(doc)
    except ParseError as exc:
        return dead_item(message, route.producer, exc.error_type, exc.reason, target)
    except (orjson.JSONEncodeError, TypeError) as exc:
        reason = f"not serialisable: {exc}"
        return dead_item(message, route.producer, "parse_error", reason, target)
    doc_id = message.doc_id if route.deterministic_ids else None
    return BulkItem(
        message, route.producer, action_line(route.index, doc_id) + source + b"\n", False
    )


def dead_item(
    message: Message,
    producer: str,
    error_type: DeadLetterReason,
    reason: str,
    target: DeadLetterTarget,
) -> BulkItem:
    doc = dead_letter(message, producer, error_type, reason, target.payload_max_bytes)
    line = action_line(target.index, message.doc_id) + orjson.dumps(doc) + b"\n"
    return BulkItem(message, producer, line, True)
