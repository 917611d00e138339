"""The per-producer schema from the index mapping, and documents flattened into its rows."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import orjson
import pyarrow as pa
import pytest

from esbridge.archive.schema import LIST_FIELDS, ProducerSchema, flatten
from esbridge.archive.writer import arrow_table
from esbridge.config import Config, load_config
from esbridge.ingest.message import Message
from esbridge.simulate.streams import generate
from esbridge.transforms import PARSERS, ParseContext, ParseError
from tests.helpers.configs import MINIMAL

PRODUCERS = """\
  - name: poolinfo
    topics: [poolinfo]
    parser: poolinfo
    index: dcache-poolinfo
  - name: logs
    topics: [logs]
    parser: logs
    index: dcache-logs
  - name: access
    topics: [access]
    parser: access
    index: dcache-access
"""


@pytest.fixture
def config(tmp_path: Path) -> Config:
    path = tmp_path / "esbridge.yml"
    path.write_text(MINIMAL + PRODUCERS + f"archive:\n  root: {tmp_path / 'archive'}\n")
    return load_config(path, {})


def schema_of(config: Config, name: str) -> ProducerSchema:
    (producer,) = (p for p in config.producers if p.name == name)
    return ProducerSchema.of(config, producer)


def test_columns_are_typed_from_the_index_mapping(config: Config) -> None:
    arrow = schema_of(config, "billing").arrow()
    assert arrow.field("billing.transfer_size").type == pa.int64()
    assert arrow.field("billing.status.code").type == pa.int32()
    assert arrow.field("billing.is_p2p").type == pa.bool_()
    assert arrow.field("billing.mean_read_bandwidth").type == pa.float64()
    assert arrow.field("billing.storage_info").type == pa.string()
    assert arrow.field("billing.protocol.host").type == pa.string()  # ip
    assert arrow.field("billing.mover").type == pa.string()  # enabled: false -> JSON text
    assert arrow.field("@timestamp").type == pa.timestamp("us", tz="UTC")
    assert arrow.field("event.ingested").type == pa.timestamp("us", tz="UTC")
    assert arrow.field("kafka.timestamp").type == pa.timestamp("ms", tz="UTC")
    assert arrow.field("raw").type == pa.binary()
    assert schema_of(config, "poolinfo").arrow().field("dcache.pool.groups").type == pa.list_(
        pa.string()
    )


def test_the_original_text_and_kafka_fields_are_not_stored_twice(config: Config) -> None:
    names = schema_of(config, "billing").arrow().names
    assert "event.original" not in names
    assert names.count("kafka.offset") == 1
    assert names[:7] == [
        "kafka.topic", "kafka.partition", "kafka.offset", "kafka.timestamp", "kafka.key",
        "kafka.topic_id", "raw",
    ]  # fmt: skip


def test_unknown_fields_add_string_columns_with_json_text(config: Config) -> None:
    schema = schema_of(config, "billing")
    message = Message("billing", 0, 5, b"{}", 1764547200000, b"k")
    doc = {"billing": {"transfer_size": "42", "extra": {"n": 3}}, "odd": [1, 2]}
    row = schema.row(message, "TOPICID", doc, None, None)
    assert row.extras == {"billing.extra.n", "odd"}
    assert row.values["billing.transfer_size"] == 42
    assert row.values["billing.extra.n"] == "3"
    assert row.values["odd"] == "[1,2]"
    assert row.values["kafka.timestamp"] == datetime(2025, 12, 1, tzinfo=UTC)
    table = pa.Table.from_pylist([row.values], schema=schema.arrow(row.extras))
    assert table.column("billing.extra.n").type == pa.string()


def test_a_value_that_does_not_fit_its_column_is_left_null(config: Config) -> None:
    schema = schema_of(config, "billing")
    doc = {"billing": {"status": {"code": 2**40}, "is_p2p": "maybe", "file_size": [1]}}
    row = schema.row(Message("billing", 0, 1, b"{}"), None, doc, None, None)
    assert row.values["billing.status.code"] is None
    assert row.values["billing.is_p2p"] is None
    assert row.values["billing.file_size"] is None


def test_a_value_json_cannot_hold_is_kept_as_its_text(config: Config) -> None:
    row = schema_of(config, "billing").row(
        Message("billing", 0, 1, b"{}"), None, {"huge": 2**70}, None, None
    )
    assert row.values["huge"] == str(2**70)


def test_a_row_the_schema_cannot_hold_keeps_its_bytes_and_says_why(config: Config) -> None:
    schema = schema_of(config, "billing")
    good = schema.row(Message("billing", 0, 1, b"{}"), None, {"producer": "b"}, None, None)
    bad = schema.row(Message("billing", 0, 2, b"{}"), None, {}, None, None)
    bad.values["billing.transfer_size"] = "not a number"  # what convert() would never give
    table = arrow_table(schema.arrow(), [good.values, bad.values])
    rows = table.to_pylist()
    assert rows[0]["producer"] == "b"
    assert rows[0]["error.type"] is None
    assert rows[1]["error.type"] == "parse_error"
    assert rows[1]["raw"] == b"{}"


def test_an_unparsed_record_keeps_its_bytes_and_its_reason(config: Config) -> None:
    row = schema_of(config, "billing").row(
        Message("billing", 1, 9, b"\xff{"), None, None, ("not_utf8", "not UTF-8 at byte 0"), None
    )
    assert row.values["raw"] == b"\xff{"
    assert row.values["error.type"] == "not_utf8"
    assert row.values["@timestamp"] is None


@pytest.mark.parametrize("kind", sorted(PARSERS))
def test_only_the_declared_fields_are_lists_in_parsed_simulated_records(kind: str) -> None:
    """A field the parsers emit as an array outside LIST_FIELDS would be JSON text in one file
    and its mapped type in another: Spark could not merge the two."""
    lists = set()
    for raw in generate(kind, 2000, incidents=True):
        try:
            doc = PARSERS[kind](orjson.loads(raw), ParseContext(kind))  # type: ignore[index]
        except ParseError:
            continue
        lists |= {path for path, value in flatten(doc) if isinstance(value, list)}
    assert lists <= LIST_FIELDS
