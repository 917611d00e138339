"""One Arrow schema per producer, from its index template mapping, and documents as rows.

The columns are the index fields under their dotted names (docs/fields.md), typed from the
mapping esbridge installs (`index-templates/`, rendered by `setup/templates.py`), so Spark
reads the archive with the types Elasticsearch has. Every file carries every mapped column;
fields the mapping does not know add string columns to the files they occur in, so a
producer's schema only ever grows (Spark merges files with `mergeSchema`).
"""

from __future__ import annotations

import base64
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
import pyarrow as pa

from esbridge.config import Config, ProducerConfig
from esbridge.ingest.message import Message
from esbridge.setup.templates import render_resources
from esbridge.utc import parse_utc

TIMESTAMP = pa.timestamp("us", tz="UTC")

BASE: tuple[tuple[str, pa.DataType], ...] = (
    ("kafka.topic", pa.string()),
    ("kafka.partition", pa.int32()),
    ("kafka.offset", pa.int64()),
    ("kafka.timestamp", pa.timestamp("ms", tz="UTC")),
    ("kafka.key", pa.binary()),
    ("kafka.topic_id", pa.string()),
    ("raw", pa.binary()),
    ("error.type", pa.string()),
    ("error.message", pa.string()),
    ("@timestamp", TIMESTAMP),
)
"""The columns of every file, whatever the producer: where the record came from, its bytes,
why it did not parse (null when it did) and its event time. `kafka.topic_id` is the Kafka
topic id, so that `replay` gives the ids ingest gives (`<topic id>-<partition>-<offset>`)."""

BASE_NAMES = frozenset(name for name, _ in BASE)

SKIPPED = frozenset({"kafka", "event.original", "event.truncated"})
"""Document paths not stored as columns: `kafka.*` comes from the message itself, and the
original text is `raw`."""

LIST_FIELDS = frozenset(
    {
        "billing.locations",
        "billing.subject",
        "dcache.pool.groups",
        "dcache.pool.flags",
        "dcache.pool.links",
        "dcache.pool.missing",
    }
)
"""Fields the parsers emit as arrays (Elasticsearch has no array type, so the mapping cannot
say); stored as lists of their mapped type. tests/unit/test_archive_schema.py runs simulated
records of every producer through the parsers and fails when another field is a list."""

ARROW_TYPES: dict[str, pa.DataType] = {
    "long": pa.int64(),
    "unsigned_long": pa.int64(),
    "integer": pa.int32(),
    "short": pa.int32(),
    "byte": pa.int32(),
    "double": pa.float64(),
    "float": pa.float64(),
    "half_float": pa.float64(),
    "scaled_float": pa.float64(),
    "boolean": pa.bool_(),
    "date": TIMESTAMP,
    "date_nanos": TIMESTAMP,
}
"""Elasticsearch field types -> Arrow; every other type (keyword, text, ip, ...) is a string,
and an object mapped `enabled: false` (billing.mover) its JSON text."""

_INT_RANGE = {
    "integer": 2**31,
    "short": 2**31,
    "byte": 2**31,
    "long": 2**63,
    "unsigned_long": 2**63,
}


def producer_mappings(config: Config, producer: ProducerConfig) -> dict[str, Any]:
    """The mappings the producer's indices get: the envelope's and its own component's,
    merged as Elasticsearch composes them (the later component wins)."""
    resources = render_resources([producer], config.deadletter, prefix=config.template_prefix)
    components = {r.name: r.body for r in resources if r.kind == "component_template"}
    envelope = components[f"{config.template_prefix}-envelope"]["template"]["mappings"]
    own = components[f"{config.template_prefix}-{producer.name}-mappings"]["template"]["mappings"]
    merged: dict[str, Any] = {**envelope, **{k: v for k, v in own.items() if k != "properties"}}
    merged["properties"] = _merge(envelope.get("properties", {}), own.get("properties", {}))
    return merged


def _merge(left: Mapping[str, Any], right: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(left)
    for key, value in right.items():
        old = out.get(key)
        if isinstance(old, dict) and isinstance(value, dict):
            out[key] = _merge(old, value)
        else:
            out[key] = value
    return out


def field_types(properties: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    """Dotted field name -> Elasticsearch type (`json` for objects not indexed)."""
    found: dict[str, str] = {}
    for name, spec in properties.items():
        path = f"{prefix}{name}"
        if spec.get("enabled") is False:
            found[path] = "json"
        elif "properties" in spec:
            found.update(field_types(spec["properties"], f"{path}."))
        else:
            found[path] = str(spec.get("type", "keyword"))
    return found


def arrow_type(es_type: str, is_list: bool) -> pa.DataType:
    scalar = ARROW_TYPES.get(es_type, pa.string())
    return pa.list_(scalar) if is_list else scalar


@dataclass(frozen=True)
class Row:
    """One record's values by column, and which of them the mapping does not know."""

    values: dict[str, Any]
    extras: frozenset[str]


@dataclass(frozen=True)
class ProducerSchema:
    producer: str
    types: dict[str, str]
    """Mapped field -> Elasticsearch type, without the base columns and skipped paths."""

    @classmethod
    def of(cls, config: Config, producer: ProducerConfig) -> ProducerSchema:
        mapped = field_types(producer_mappings(config, producer)["properties"])
        kept = {
            name: kind
            for name, kind in mapped.items()
            if name not in BASE_NAMES and not _skipped(name)
        }
        return cls(producer.name, kept)

    def arrow(self, extras: Iterable[str] = ()) -> pa.Schema:
        """The file schema: the base columns, every mapped field, then `extras` as strings."""
        fields = [pa.field(name, kind) for name, kind in BASE]
        fields += [
            pa.field(name, arrow_type(kind, name in LIST_FIELDS))
            for name, kind in sorted(self.types.items())
        ]
        fields += [pa.field(name, pa.string()) for name in sorted(set(extras))]
        return pa.schema(fields)

    def row(
        self,
        message: Message,
        topic_id: str | None,
        document: Mapping[str, Any] | None,
        error: tuple[str, str] | None,
        event_time: datetime | None,
    ) -> Row:
        """The record as a row: its coordinates and bytes always, the document's fields when it
        parsed, else the dead-letter reason it would have in the search engine."""
        values: dict[str, Any] = {
            "kafka.topic": message.topic,
            "kafka.partition": message.partition,
            "kafka.offset": message.offset,
            "kafka.timestamp": _millis(message.timestamp),
            "kafka.key": message.key,
            "kafka.topic_id": topic_id,
            "raw": message.value if message.value is not None else b"",
            "error.type": error[0] if error else None,
            "error.message": error[1] if error else None,
            "@timestamp": event_time,
        }
        extras: set[str] = set()
        if document is not None:
            for path, value in flatten(document):
                if path in BASE_NAMES or _skipped(path):
                    continue
                kind = self.types.get(path)
                if kind is None:
                    values[path] = as_text(value)
                    extras.add(path)
                else:
                    values[path] = convert(kind, value, path in LIST_FIELDS)
        return Row(values, frozenset(extras))


def _skipped(path: str) -> bool:
    return any(path == s or path.startswith(f"{s}.") for s in SKIPPED)


def _millis(timestamp: int | None) -> datetime | None:
    if timestamp is None or timestamp < 0:
        return None
    return datetime.fromtimestamp(timestamp / 1000, UTC)


def flatten(node: Mapping[str, Any], prefix: str = "") -> Iterable[tuple[str, Any]]:
    """(dotted path, leaf) pairs; lists and scalars are leaves, objects are walked into."""
    for key, value in node.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict) and value and not _is_json_object(path):
            yield from flatten(value, f"{path}.")
        else:
            yield path, value


def _is_json_object(path: str) -> bool:
    return path == "billing.mover"


def as_text(value: Any) -> str | None:
    """A string as it is, anything else as its JSON text."""
    if value is None or isinstance(value, str):
        return value
    try:
        return orjson.dumps(value, default=str).decode()
    except orjson.JSONEncodeError:  # e.g. an integer beyond 64 bits: never stall on a record
        return str(value)


def convert(kind: str, value: Any, is_list: bool) -> Any:
    """`value` as the column's type; None when it cannot be (the record's `raw` keeps it)."""
    if is_list:
        items = value if isinstance(value, list) else [value]
        return [_scalar(kind, item) for item in items if item is not None]
    if isinstance(value, list) and kind not in ARROW_TYPES:
        return as_text(value)
    return _scalar(kind, value)


def _scalar(kind: str, value: Any) -> Any:
    try:
        if kind in _INT_RANGE:
            number = int(value) if not isinstance(value, bool | float | list | dict) else None
            if number is None and isinstance(value, float) and value.is_integer():
                number = int(value)
            return number if number is not None and abs(number) < _INT_RANGE[kind] else None
        if kind in ("double", "float", "half_float", "scaled_float"):
            return float(value) if not isinstance(value, bool | list | dict) else None
        if kind == "boolean":
            return _boolean(value)
        if kind in ("date", "date_nanos"):
            return _date(value)
    except (TypeError, ValueError, OverflowError):
        return None
    return as_text(value)


def _boolean(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if value in ("true", "false"):
        return bool(value == "true")
    return None


def _date(value: Any) -> datetime | None:
    if isinstance(value, str):
        return parse_utc(value.replace("Z", "+00:00") if value.endswith("Z") else value)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return datetime.fromtimestamp(value / 1000, UTC)
    return None


def event_time(document: Mapping[str, Any] | None) -> datetime | None:
    """The document's `@timestamp` as a UTC instant; None when it has none that parses."""
    if document is None:
        return None
    try:
        return _date(document.get("@timestamp"))
    except (TypeError, ValueError, OverflowError):
        return None


def json_cells(row: Mapping[str, Any]) -> dict[str, Any]:
    """A row as JSON lines store it: nulls left out, instants as ISO-8601 UTC text, bytes as
    text when they are UTF-8 (the common case, which gzip compresses well), else base64 under
    `<column>.base64`."""
    cells: dict[str, Any] = {}
    for name, value in row.items():
        if value is None:
            continue
        if isinstance(value, bytes):
            try:
                cells[name] = value.decode("utf-8")
            except UnicodeDecodeError:
                cells[f"{name}.base64"] = base64.b64encode(value).decode("ascii")
        elif isinstance(value, datetime):
            cells[name] = value.astimezone(UTC).isoformat().replace("+00:00", "Z")
        else:
            cells[name] = value
    return cells


def json_bytes(cells: Mapping[str, Any], name: str) -> bytes | None:
    """A binary column back from `json_cells`' form."""
    if name in cells:
        return str(cells[name]).encode("utf-8")
    if f"{name}.base64" in cells:
        return base64.b64decode(cells[f"{name}.base64"])
    return None
