"""Archive files written as /tmp/archive-contract.md lays them out, for the Spark tests.

Until `esbridge archive` is on main, the analytics tests build their archive here: each raw
message goes through the real parser (`esbridge.transforms.PARSERS`, as ingest and the
archiver use it), the document is flattened to dotted columns typed from the producer's index
template (the contract's rules), and one Parquet file per UTC day of event time is written to
`<root>/<producer>/year=YYYY/month=MM/day=DD/<topic>+<partition>+<first>+<last>.parquet`.
Switching to the real archiver means producing the same raw messages to Kafka and running
`esbridge archive --idle-exit` over them instead of `write_archive`.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from esbridge.transforms import PARSERS, ParseContext, ParseError
from esbridge.utc import parse_utc
from tests.helpers.mappings import effective_mappings, render, walk_leaves

KAFKA_TIME = datetime(2019, 6, 15, 12, 0, tzinfo=UTC)
"""The Kafka record time of every test record (it only places unparsable records)."""

ENVELOPE: dict[str, pa.DataType] = {
    "kafka.topic": pa.string(),
    "kafka.partition": pa.int32(),
    "kafka.offset": pa.int64(),
    "kafka.timestamp": pa.timestamp("ms", tz="UTC"),
    "kafka.key": pa.binary(),
    "raw": pa.binary(),
    "error.type": pa.string(),
    "error.message": pa.string(),
    "@timestamp": pa.timestamp("us", tz="UTC"),
}
_SCALARS: dict[str, pa.DataType] = {
    "long": pa.int64(),
    "integer": pa.int32(),
    "double": pa.float64(),
    "float": pa.float64(),
    "boolean": pa.bool_(),
    "date": pa.timestamp("us", tz="UTC"),
}
_JSON_TEXT = "json"
"""Marks a column whose values are stored as JSON text (objects mapped `enabled: false`)."""


@cache
def template_types(producer: str) -> dict[str, pa.DataType | str]:
    """Column type per dotted field of the producer's template (mapping -> Arrow)."""
    mappings = effective_mappings(render(), f"esbridge-{producer}")
    types: dict[str, pa.DataType | str] = {}
    for path, mapping in walk_leaves(mappings["properties"]):
        if mapping.get("enabled") is False:
            types[path] = _JSON_TEXT
        else:
            types[path] = _SCALARS.get(mapping.get("type", "keyword"), pa.string())
    return types


def flatten(document: Mapping[str, Any], known: Mapping[str, object], prefix: str = "") -> dict:
    """Nested objects -> dotted keys; an object the template keeps whole stays one value."""
    flat: dict[str, Any] = {}
    for key, value in document.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and known.get(name) != _JSON_TEXT:
            flat.update(flatten(value, known, f"{name}."))
        else:
            flat[name] = value
    return flat


def _column_type(name: str, values: list[Any], producer: str) -> pa.DataType:
    mapped = template_types(producer).get(name)
    if mapped == _JSON_TEXT or mapped is None:
        return pa.string()
    assert isinstance(mapped, pa.DataType)
    if any(isinstance(value, list) for value in values):
        return pa.list_(mapped)
    return mapped


def _cell(value: Any, kind: pa.DataType) -> Any:
    if value is None:
        return None
    if pa.types.is_timestamp(kind) and isinstance(value, str):
        return parse_utc(value)
    if pa.types.is_string(kind) and not isinstance(value, str):
        return json.dumps(value, sort_keys=True)
    return value


def parsed_row(raw: bytes, producer: str) -> dict[str, Any]:
    """The columns of one message: the document's, or the error's when it does not parse."""
    try:
        record = json.loads(raw)
        if not isinstance(record, dict):
            raise ParseError("not_an_object", "the message is not a JSON object")
        document = PARSERS[producer](record, ParseContext(producer))  # type: ignore[index]
    except json.JSONDecodeError as error:
        return {"error.type": "json_decode", "error.message": str(error)}
    except ParseError as error:
        return {"error.type": error.error_type, "error.message": error.reason}
    row = flatten(document, template_types(producer))
    row.pop("event.original", None)
    return row


def write_archive(
    root: Path,
    producer: str,
    messages: Iterable[bytes],
    *,
    topic: str | None = None,
    partition: int = 0,
    first_offset: int = 0,
) -> list[Path]:
    """The messages (raw, as consumed, at consecutive offsets) as the archive's files."""
    topic = topic or producer
    rows: list[dict[str, Any]] = []
    for offset, raw in enumerate(messages, start=first_offset):
        row = parsed_row(raw, producer)
        row.update(
            {
                "kafka.topic": topic,
                "kafka.partition": partition,
                "kafka.offset": offset,
                "kafka.timestamp": KAFKA_TIME,
                "kafka.key": None,
                "raw": raw,
            }
        )
        rows.append(row)
    names = list(ENVELOPE) + sorted({name for row in rows for name in row} - set(ENVELOPE))
    schema = pa.schema(
        [
            (name, ENVELOPE.get(name) or _column_type(name, [r.get(name) for r in rows], producer))
            for name in names
        ]
    )
    by_day: dict[tuple[int, int, int], list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        moment = _cell(row.get("@timestamp"), ENVELOPE["@timestamp"]) or KAFKA_TIME
        day = moment.astimezone(UTC)
        by_day[(day.year, day.month, day.day)].append(row)
    written = []
    for (year, month, day), day_rows in sorted(by_day.items()):
        folder = root / producer / f"year={year:04d}" / f"month={month:02d}" / f"day={day:02d}"
        folder.mkdir(parents=True, exist_ok=True)
        offsets = [row["kafka.offset"] for row in day_rows]
        path = folder / f"{topic}+{partition}+{min(offsets)}+{max(offsets)}.parquet"
        columns = {
            field.name: [_cell(row.get(field.name), field.type) for row in day_rows]
            for field in schema
        }
        pq.write_table(pa.table(columns, schema=schema), path)
        written.append(path)
    return written
