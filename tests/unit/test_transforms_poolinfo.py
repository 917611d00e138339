"""Pool snapshots -> documents, and the producer -> parser registry."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from esbridge.transforms import PARSERS, ParseContext, ParseError
from esbridge.transforms.access import parse_access
from esbridge.transforms.billing import parse_billing
from esbridge.transforms.logs import parse_logs
from esbridge.transforms.poolinfo import parse_poolinfo

CTX = ParseContext(producer="poolinfo")


@pytest.fixture(scope="module")
def samples(samples_dir: Path) -> list[dict[str, Any]]:
    lines = (samples_dir / "poolinfo.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def test_every_poolinfo_sample_line_is_covered_below(samples: list[dict[str, Any]]) -> None:
    assert [record["pool"] for record in samples] == ["dcache-xfel497-01", "cms-pool017"]


def test_poolinfo_enabled_pool_becomes_the_documented_fields(
    samples: list[dict[str, Any]],
) -> None:
    context = ParseContext(producer="poolinfo", dcache_instance="desy")
    assert parse_poolinfo(samples[0], context) == {
        "@timestamp": "2026-10-14T08:00:00.000Z",
        "host": {"name": "xfel497"},
        "dcache": {
            "instance": "desy",
            "pool": {
                "name": "dcache-xfel497-01",
                "groups": ["xfel", "xfel-raw"],
                "mode": "enabled",
                "enabled": True,
                "read_only": False,
                "space": {
                    "total": 571_746_046_443_520,
                    "free": 120_394_816_880_640,
                    "precious": 0,
                    "removable": 401_231_900_000_000,
                    "used": 451_351_229_562_880,
                    "gap": 4_294_967_296,
                },
                "last_heartbeat": 12,
            },
        },
    }


def test_poolinfo_disabled_pool_has_flags_and_status(samples: list[dict[str, Any]]) -> None:
    pool = parse_poolinfo(samples[1], CTX)["dcache"]["pool"]
    assert pool["mode"] == "disabled(fetch,store,stage,p2p-client,p2p-server)"
    assert pool["flags"] == ["fetch", "store", "stage", "p2p-client", "p2p-server"]
    assert pool["enabled"] is False
    assert pool["status_code"] == 1
    assert pool["status_message"] == "Pool disabled: I/O test failed"
    assert pool["space"]["precious"] == 1_099_511_627_776
    assert "reason" not in pool


@pytest.mark.parametrize("missing", ["pool", "@timestamp"])
def test_poolinfo_without_pool_or_timestamp_is_missing_field(
    samples: list[dict[str, Any]], missing: str
) -> None:
    record = {key: value for key, value in samples[0].items() if key != missing}
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
