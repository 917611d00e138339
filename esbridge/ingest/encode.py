"""Kafka message -> bulk item: decode, validate, transform, envelope, serialise once.

Every message becomes exactly one item: a document for its producer's index, or a dead letter.
Nothing a message contains can raise out of here, so one poison message never stops the rest.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import orjson

from esbridge.ingest.deadletter import dead_letter
from esbridge.ingest.message import Message
from esbridge.transforms import DeadLetterReason, ParseContext, ParseError, Parser

COLLISION_MARK = "~"
"""Joins an id and a content hash when the id is taken by another record (`<id>~<hash>`); no
topic name, topic id or number contains it, so a marked id never equals a plain one."""


@dataclass(frozen=True)
class Route:
    """How messages of one topic become documents."""

    producer: str
    index: str
    parser: Parser
    context: ParseContext
    mandatory: tuple[tuple[str, ...], ...]
    deterministic_ids: bool
    max_message_bytes: int
    original_max_bytes: int
    id_prefix: str
    """Starts every id of the topic: its Kafka topic id, shortened, so a re-created topic or
    another cluster's topic of the same name never reuses an id; the topic name when the
    cluster reports no topic id."""
    require_alias: bool = True
    """Whether `index` must be a write alias (always for ingest; see `action_line`)."""
    event_original: bool = True
    """Whether documents carry the raw message as `event.original` (`producers[].event_original`;
    billing and poolinfo leave it out by default)."""


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
    doc_id: str
    """The deterministic id (also of its dead letter), whether or not the action carries it."""
    digest: str
    """`event.hash`: tells a replay of this record from another record under the same id."""
    ingested: str = ""
    """The `event.ingested` the line carries (documents only; "" for dead letters)."""
    reason: str = ""
    """A dead letter's `error.type` (its `DeadLetterReason`), for the metrics; "" for documents."""


def restamped(item: BulkItem, ingested: str) -> BulkItem:
    """`item` with `event.ingested` moved to `ingested`, for a document sent again after a wait.

    The watcher cuts its windows on `event.ingested` as the time a document became searchable;
    a batch held back by a refusal becomes searchable only when it is finally taken, so each
    re-send carries the time of that send. The stamp has a fixed width, so the line keeps its
    length; the first `"ingested":"<old stamp>"` is the envelope's (inside `event.original` and
    other strings every quote is escaped), unless a parsed field before it carries that very
    key and instant.
    """
    if item.dead or not item.ingested or item.ingested == ingested:
        return item
    old = b'"ingested":"' + item.ingested.encode() + b'"'
    line = item.line.replace(old, b'"ingested":"' + ingested.encode() + b'"', 1)
    return BulkItem(
        item.message, item.producer, line, item.dead, item.doc_id, item.digest, ingested
    )


def content_hash(value: bytes | None) -> str:
    """64 bits of BLAKE2b of the raw message: cheap (~2 µs per KiB), and a false match between
    two different records under one id is a 2**-64 chance."""
    return hashlib.blake2b(value or b"", digest_size=8).hexdigest()


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


def envelope(
    doc: dict[str, Any], message: Message, route: Route, ingested: str, digest: str
) -> None:
    """Provenance and the original text (where the producer keeps it): added here so every
    producer carries them alike."""
    raw = message.value or b""
    event = doc.get("event")
    if not isinstance(event, dict):
        event = doc["event"] = {}
    if route.event_original and len(raw) > route.original_max_bytes:
        event["original"] = raw[: route.original_max_bytes].decode("utf-8", errors="ignore")
        event["truncated"] = True
    elif route.event_original:
        event["original"] = raw.decode("utf-8")
    event["ingested"] = ingested
    event["hash"] = digest
    doc["producer"] = route.producer
    doc["kafka"] = {
        "topic": message.topic,
        "partition": message.partition,
        "offset": message.offset,
    }


def document(message: Message, route: Route, ingested: str, digest: str) -> dict[str, Any]:
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
    envelope(doc, message, route, ingested, digest)
    return doc


def action_line(index: str, doc_id: str | None, require_alias: bool = True) -> bytes:
    """`require_alias`: a missing write alias is refused (404, retried) instead of silently
    auto-creating a concrete index without esbridge's mappings. `replay` into a concrete index
    of the user's choice goes without it."""
    alias = b',"require_alias":true' if require_alias else b""
    if doc_id is None:
        return b'{"index":{"_index":"' + index.encode() + b'"' + alias + b"}}\n"
    return (
        b'{"create":{"_index":"' + index.encode() + b'","_id":"' + doc_id.encode()
        + b'"' + alias + b"}}\n"
    )  # fmt: skip


def to_item(message: Message, route: Route, target: DeadLetterTarget, ingested: str) -> BulkItem:
    doc_id = f"{route.id_prefix}-{message.partition}-{message.offset}"
    digest = content_hash(message.value)
    try:
        doc = document(message, route, ingested, digest)
        source = orjson.dumps(doc)
    except ParseError as exc:
        error_type, reason = exc.error_type, exc.reason
    except (orjson.JSONEncodeError, TypeError) as exc:
        error_type, reason = "parse_error", f"not serialisable: {exc}"
    else:
        doc_id_or_none = doc_id if route.deterministic_ids else None
        action = action_line(route.index, doc_id_or_none, route.require_alias)
        line = action + source + b"\n"
        return BulkItem(message, route.producer, line, False, doc_id, digest, ingested)
    return dead_item(message, route.producer, error_type, reason, target, doc_id, digest)


def dead_item(
    message: Message,
    producer: str,
    error_type: DeadLetterReason,
    reason: str,
    target: DeadLetterTarget,
    doc_id: str,
    digest: str,
) -> BulkItem:
    doc = dead_letter(message, producer, error_type, reason, target.payload_max_bytes, digest)
    line = action_line(target.index, doc_id) + orjson.dumps(doc) + b"\n"
    return BulkItem(message, producer, line, True, doc_id, digest, reason=error_type)


def as_dead_letter(
    item: BulkItem, error_type: DeadLetterReason, reason: str, target: DeadLetterTarget
) -> BulkItem:
    """The dead letter of a document Elasticsearch refused, under the document's id."""
    return dead_item(
        item.message, item.producer, error_type, reason, target, item.doc_id, item.digest
    )


def with_collision_id(item: BulkItem) -> BulkItem:
    """`item` under `<id>~<hash>`: its id is taken by another record. Deterministic, so a
    replay of this record finds its own copy there and is recognised as a replay."""
    action, source = item.line.split(b"\n", 1)
    parsed = orjson.loads(action)
    (fields,) = parsed.values()
    doc_id = f"{item.doc_id}{COLLISION_MARK}{item.digest}"
    fields["_id"] = doc_id
    line = orjson.dumps(parsed) + b"\n" + source
    return BulkItem(
        item.message,
        item.producer,
        line,
        item.dead,
        doc_id,
        item.digest,
        item.ingested,
        item.reason,
    )
