"""Message -> bulk item: every message becomes exactly one document or one dead letter."""

from __future__ import annotations

import base64
from zoneinfo import ZoneInfo

import orjson

from esbridge.ingest.encode import (
    DeadLetterTarget,
    Route,
    action_line,
    content_hash,
    missing_fields,
    to_item,
    with_collision_id,
)
from esbridge.ingest.message import Message
from esbridge.transforms import PARSERS, ParseContext

TARGET = DeadLetterTarget("esbridge-deadletter", payload_max_bytes=64)
GOOD = (
    b'{"msgType":"remove","date":"2026-10-14T09:12:03.4+02:00","cellName":"p1","cellType":"pool"}'
)


def route(**overrides: object) -> Route:
    values: dict[str, object] = {
        "producer": "billing",
        "index": "dcache-billing",
        "parser": PARSERS["billing"],
        "context": ParseContext("billing", ZoneInfo("UTC")),
        "mandatory": (("msgType",), ("date",)),
        "deterministic_ids": True,
        "max_message_bytes": 1024,
        "original_max_bytes": 40,
        "id_prefix": "TcrDvD7t",
    }
    values.update(overrides)
    return Route(**values)  # type: ignore[arg-type]


def split(line: bytes) -> tuple[dict[str, object], dict[str, object]]:
    action, source, rest = line.split(b"\n")
    assert rest == b""
    return orjson.loads(action), orjson.loads(source)


def item_for(value: bytes | None, **overrides: object) -> tuple[bool, dict, dict]:
    item = to_item(
        Message("billing", 2, 41, value), route(**overrides), TARGET, "2026-11-22T00:00:00Z"
    )
    action, source = split(item.line)
    return item.dead, action, source


def test_good_message_is_created_with_deterministic_id_and_provenance() -> None:
    dead, action, source = item_for(GOOD)

    assert dead is False
    assert action == {
        "create": {"_index": "dcache-billing", "_id": "TcrDvD7t-2-41", "require_alias": True}
    }
    assert source["kafka"] == {"topic": "billing", "partition": 2, "offset": 41}
    assert source["producer"] == "billing"
    assert source["@timestamp"] == "2026-10-14T07:12:03.400Z"
    assert source["event"]["ingested"] == "2026-11-22T00:00:00Z"
    assert source["event"]["hash"] == content_hash(GOOD)


def test_ids_start_with_the_route_prefix_the_topic_name_without_a_topic_id() -> None:
    _, action, _ = item_for(GOOD, id_prefix="billing")

    assert action["create"]["_id"] == "billing-2-41"


def test_content_hash_tells_records_apart_and_is_stable() -> None:
    assert content_hash(GOOD) == content_hash(bytes(GOOD))
    assert content_hash(GOOD) != content_hash(GOOD.replace(b"p1", b"p2"))
    assert len(content_hash(None)) == 16


def test_collision_id_appends_the_hash_and_keeps_the_source() -> None:
    item = to_item(Message("billing", 2, 41, GOOD), route(), TARGET, "2026-11-22T00:00:00Z")

    moved = with_collision_id(item)

    action, source = split(moved.line)
    assert moved.doc_id == f"TcrDvD7t-2-41~{item.digest}"
    assert action == {
        "create": {"_index": "dcache-billing", "_id": moved.doc_id, "require_alias": True}
    }
    assert source == split(item.line)[1]
    assert (moved.dead, moved.digest, moved.message) == (False, item.digest, item.message)


def test_event_original_is_capped_and_marked_truncated() -> None:
    _, _, source = item_for(GOOD)

    assert source["event"]["original"] == GOOD[:40].decode()
    assert source["event"]["truncated"] is True


def test_a_producer_without_event_original_keeps_only_the_hash_of_the_message() -> None:
    _, _, source = item_for(GOOD, event_original=False)

    assert "original" not in source["event"]
    assert "truncated" not in source["event"]
    assert source["event"]["hash"] == content_hash(GOOD)


def test_id_strategy_none_lets_elasticsearch_choose_ids() -> None:
    _, action, _ = item_for(GOOD, deterministic_ids=False)

    assert action == {"index": {"_index": "dcache-billing", "require_alias": True}}


def test_malformed_json_becomes_dead_letter_with_reason_and_same_id() -> None:
    dead, action, source = item_for(b'{"msgType": ')

    assert dead is True
    assert action == {
        "create": {"_index": "esbridge-deadletter", "_id": "TcrDvD7t-2-41", "require_alias": True}
    }
    assert source["event"] == {"hash": content_hash(b'{"msgType": ')}
    assert source["error"]["type"] == "json_decode"
    assert "invalid JSON" in source["error"]["message"]
    assert source["deadletter"]["payload"] == '{"msgType": '
    assert source["kafka"] == {"topic": "billing", "partition": 2, "offset": 41}
    assert source["producer"] == "billing"


def test_non_utf8_payload_is_kept_as_base64() -> None:
    raw = b'{"a": "\xff\xfe"}'
    dead, _, source = item_for(raw)

    assert dead is True
    assert source["error"]["type"] == "not_utf8"
    assert base64.b64decode(source["deadletter"]["payload_base64"]) == raw
    assert "payload" not in source["deadletter"]


def test_oversize_message_is_dead_lettered_with_capped_payload() -> None:
    raw = b'{"msgType":"transfer","pad":"' + b"x" * 2000 + b'"}'
    dead, _, source = item_for(raw)

    assert dead is True
    assert source["error"]["type"] == "oversize"
    assert source["deadletter"]["payload_size"] == len(raw)
    assert source["deadletter"]["truncated"] is True
    assert source["deadletter"]["payload"] == raw[:64].decode()


def test_missing_mandatory_field_names_the_field() -> None:
    dead, _, source = item_for(b'{"msgType":"transfer"}')

    assert dead is True
    assert source["error"] == {
        "type": "missing_field",
        "message": "mandatory field(s) missing: date",
    }


def test_json_that_is_not_an_object_and_tombstones_are_dead_lettered() -> None:
    for value, expected in ((b"[1, 2]", "a JSON list"), (None, "tombstone")):
        dead, _, source = item_for(value)
        assert dead is True
        assert source["error"]["type"] == "not_an_object"
        assert expected in source["error"]["message"]


def test_unexpected_shape_inside_parser_becomes_parse_error_not_a_crash() -> None:
    dead, _, source = item_for(b'{"msgType":"transfer","date":"2026-10-14T09:12:03Z","status":7}')

    assert dead is True
    assert source["error"]["type"] == "parse_error"


def test_unparseable_date_is_dead_lettered_as_bad_timestamp() -> None:
    dead, _, source = item_for(b'{"msgType":"transfer","date":"yesterday"}')

    assert dead is True
    assert source["error"]["type"] == "bad_timestamp"


def test_missing_fields_reads_dotted_paths_and_treats_empty_as_missing() -> None:
    record = {"a": {"b": 1}, "c": "", "d": 0}

    assert missing_fields(record, (("a", "b"), ("a", "x"), ("c",), ("d",))) == ["a.x", "c"]


def test_action_line_is_one_ndjson_line_that_requires_the_write_alias() -> None:
    assert action_line("i", "t-0-1") == (
        b'{"create":{"_index":"i","_id":"t-0-1","require_alias":true}}\n'
    )
