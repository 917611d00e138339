"""Pool snapshots -> documents, and the producer -> parser registry."""

from __future__ import annotations

from typing import Any

import pytest

from esbridge.transforms import PARSERS, ParseContext, ParseError
from esbridge.transforms.access import parse_access
from esbridge.transforms.billing import parse_billing
from esbridge.transforms.logs import parse_logs
from esbridge.transforms.poolinfo import parse_poolinfo

CTX = ParseContext(producer="poolinfo")


SNAPSHOT: dict[str, Any] = {
    "@timestamp": "2026-10-14T08:00:00.000Z",
    "pool": "dcache-xfel497-01",
    "domain": "xfel497Domain",
    "groups": ["xfel", "xfel-raw"],
    "links": ["xfel-link"],
    "host": "xfel497",
    "mode": "enabled",
    "enabled": True,
    "read_only": False,
    "dead": False,
    "repository_state": "OPEN",
    "space_total": 571_746_046_443_520,
    "space_free": 120_394_816_880_640,
    "space_precious": 0,
    "space_removable": 401_231_900_000_000,
    "space_used": 451_351_229_562_880,
    "space_gap": 4_294_967_296,
    "cached": True,
    "last_modified": "2026-10-14T07:59:30.000Z",
}
"""A snapshot as esbridge/poll/snapshot.py writes it (docs/poll.md)."""


def test_poolinfo_enabled_pool_becomes_the_documented_fields() -> None:
    context = ParseContext(producer="poolinfo", dcache_instance="desy")
    assert parse_poolinfo(SNAPSHOT, context) == {
        "@timestamp": "2026-10-14T08:00:00.000Z",
        "host": {"name": "xfel497"},
        "dcache": {
            "instance": "desy",
            "domain": "xfel497Domain",
            "pool": {
                "name": "dcache-xfel497-01",
                "groups": ["xfel", "xfel-raw"],
                "links": ["xfel-link"],
                "mode": "enabled",
                "enabled": True,
                "read_only": False,
                "dead": False,
                "repository_state": "OPEN",
                "space": {
                    "total": 571_746_046_443_520,
                    "free": 120_394_816_880_640,
                    "precious": 0,
                    "removable": 401_231_900_000_000,
                    "used": 451_351_229_562_880,
                    "gap": 4_294_967_296,
                },
                "cached": True,
                "last_modified": "2026-10-14T07:59:30.000Z",
            },
        },
    }


def test_poolinfo_disabled_pool_has_flags_and_status() -> None:
    record = SNAPSHOT | {
        "mode": "disabled(fetch,store,stage,p2p-client,p2p-server)",
        "enabled": False,
        "status_code": 99,
        "status_message": "Pool disabled: I/O test failed",
    }
    pool = parse_poolinfo(record, CTX)["dcache"]["pool"]
    assert pool["mode"] == "disabled(fetch,store,stage,p2p-client,p2p-server)"
    assert pool["flags"] == ["fetch", "store", "stage", "p2p-client", "p2p-server"]
    assert pool["enabled"] is False
    assert pool["status_code"] == 99
    assert pool["status_message"] == "Pool disabled: I/O test failed"
    assert "reason" not in pool


def test_poolinfo_uncached_pool_keeps_its_flag_and_the_usage_error() -> None:
    record = {
        "@timestamp": "2026-10-14T08:00:00.000Z",
        "pool": "p1",
        "groups": ["g"],
        "cached": False,
        "usage_error": "timeout",
    }
    pool = parse_poolinfo(record, CTX)["dcache"]["pool"]
    assert pool == {"name": "p1", "groups": ["g"], "cached": False, "usage_error": "timeout"}


def test_poolinfo_names_the_keys_an_old_server_left_out() -> None:
    record = {key: v for key, v in SNAPSHOT.items() if key != "space_precious"}
    pool = parse_poolinfo(record | {"missing": ["space_precious"]}, CTX)["dcache"]["pool"]
    assert pool["missing"] == ["space_precious"]
    assert "precious" not in pool["space"]


@pytest.mark.parametrize("missing", ["pool", "@timestamp"])
def test_poolinfo_without_pool_or_timestamp_is_missing_field(
    missing: str,
) -> None:
    record = {key: value for key, value in SNAPSHOT.items() if key != missing}
    with pytest.raises(ParseError) as caught:
        parse_poolinfo(record, CTX)
    assert caught.value.error_type == "missing_field"
    assert caught.value.reason == f"pool snapshot has no {missing!r}"


def test_poolinfo_timestamp_without_offset_is_bad_timestamp() -> None:
    with pytest.raises(ParseError) as caught:
        parse_poolinfo({"pool": "p1", "@timestamp": "2026-10-14T08:00:00"}, CTX)
    assert caught.value.error_type == "bad_timestamp"


def test_poolinfo_ignores_keys_outside_the_contract() -> None:
    doc = parse_poolinfo({"pool": "p1", "@timestamp": "2026-10-14T08:00:00Z", "cost": 3}, CTX)
    assert doc == {"@timestamp": "2026-10-14T08:00:00.000Z", "dcache": {"pool": {"name": "p1"}}}


def test_parsers_registry_maps_each_producer_to_its_parser() -> None:
    registry = PARSERS
    assert registry == {
        "billing": parse_billing,
        "logs": parse_logs,
        "access": parse_access,
        "poolinfo": parse_poolinfo,
    }
