"""dCache's pool list entry + usage answer -> the flat snapshot, for each shape dCache writes."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from esbridge.poll.snapshot import flatten, host_of, mode_flags
from esbridge.transforms import ParseContext
from esbridge.transforms.poolinfo import parse_poolinfo
from tests.helpers.dcache_frontend import (
    GiB,
    TiB,
    new_server_usage,
    old_server_usage,
    pool_entry,
)

AT = datetime(2026, 10, 14, 8, 0, tzinfo=UTC)
MODIFIED = datetime(2026, 10, 14, 7, 59, 12, tzinfo=UTC)
ENTRY = pool_entry("pool_a", ["default", "cms-disk"], ["cms-link"])


def test_a_current_servers_answer_becomes_the_full_snapshot() -> None:
    usage = new_server_usage("pool_a", domain="pool_aDomain", precious=2 * TiB)

    assert flatten(ENTRY, usage, at=AT, last_modified=MODIFIED) == {
        "@timestamp": "2026-10-14T08:00:00.000Z",
        "pool": "pool_a",
        "domain": "pool_aDomain",
        "groups": ["default", "cms-disk"],
        "links": ["cms-link"],
        "host": "pool_a-host",
        "mode": "enabled",
        "enabled": True,
        "read_only": False,
        "dead": False,
        "repository_state": "OPEN",
        "space_free": 6 * TiB,
        "space_gap": 4 * GiB,
        "space_precious": 2 * TiB,
        "space_removable": 20 * TiB,
        "space_total": 30 * TiB,
        "space_used": 24 * TiB,
        "cached": True,
        "last_modified": "2026-10-14T07:59:12.000Z",
    }


def test_an_old_server_leaves_zeros_out_and_they_stay_unknown_not_zero() -> None:
    usage = old_server_usage("pool_old", domain="oldDomain", precious=0)

    snapshot = flatten(pool_entry("pool_old", ["default"], []), usage, at=AT)

    assert "space_precious" not in snapshot
    assert snapshot["missing"] == ["space_precious"]
    assert snapshot["space_total"] == 30 * TiB and snapshot["space_used"] == 24 * TiB
    assert snapshot["cached"] is True
    assert "last_modified" not in snapshot
    assert "links" not in snapshot  # an empty list says nothing to index


def test_an_old_servers_full_pool_has_no_free_and_no_invented_used() -> None:
    usage = old_server_usage("full", domain="d", free=0, removable=0)

    snapshot = flatten(pool_entry("full", [], []), usage, at=AT)

    assert snapshot["missing"] == ["space_free", "space_precious", "space_removable"]
    assert "space_free" not in snapshot
    assert snapshot["space_used"] == 30 * TiB  # the repository's own usedDiskSpace


def test_an_uncached_pool_is_published_with_what_the_list_knows() -> None:
    snapshot = flatten(ENTRY, {}, at=AT)

    assert snapshot == {
        "@timestamp": "2026-10-14T08:00:00.000Z",
        "pool": "pool_a",
        "groups": ["default", "cms-disk"],
        "links": ["cms-link"],
        "cached": False,
    }


def test_a_failed_usage_request_is_flagged_with_its_kind() -> None:
    snapshot = flatten(ENTRY, None, at=AT, last_modified=MODIFIED, usage_error="timeout")

    assert snapshot["cached"] is False
    assert snapshot["usage_error"] == "timeout"
    assert snapshot["last_modified"] == "2026-10-14T07:59:12.000Z"
    assert "missing" not in snapshot


def test_space_never_comes_from_the_display_string() -> None:
    usage = new_server_usage("p", domain="d")
    del usage["poolData"]["detailsData"]["costData"]["space"]

    snapshot = flatten(pool_entry("p", [], []), usage, at=AT)

    assert usage["poolData"]["repositoryData"]["totalDiskSpace"] == "30T"
    assert snapshot["space_total"] == 30 * TiB  # used + free, both longs
    assert snapshot["space_free"] == 6 * TiB
    assert snapshot["space_used"] == 24 * TiB


def test_string_or_boolean_space_values_are_not_numbers() -> None:
    usage = new_server_usage("p", domain="d")
    usage["poolData"]["detailsData"]["costData"]["space"] |= {"total": "30T", "gap": True}
    del usage["poolData"]["repositoryData"]["usedDiskSpace"]

    snapshot = flatten(pool_entry("p", [], []), usage, at=AT)

    assert "space_total" not in snapshot and "space_used" not in snapshot
    assert snapshot["space_gap"] == 4 * GiB  # from repositoryData.gap instead
    assert {"space_total", "space_used"} <= set(snapshot["missing"])


def test_groups_come_from_the_usage_answer_when_the_list_has_none() -> None:
    usage = new_server_usage("p", domain="d", groups=("tape", "default"))

    snapshot = flatten({"name": "p"}, usage, at=AT)

    assert snapshot["groups"] == ["tape", "default"]


@pytest.mark.parametrize(
    ("mode", "enabled", "read_only", "dead"),
    [
        ("enabled", True, False, False),
        ("enabled,noresilience", True, False, False),
        ("disabled(store,stage,p2p-client)", False, True, False),
        ("disabled(store,stage,p2p-client,loading)", False, True, False),
        ("disabled(fetch,store,stage,p2p-client,p2p-server)", False, False, False),
        ("disabled(fetch,store,stage,p2p-client,p2p-server,dead)", False, False, True),
        ("disabled()", False, False, False),
        ("disabled(store,stage,p2p-client,noresilience)", False, True, False),
    ],
)
def test_mode_flags_follow_pool_v2_mode_strings(
    mode: str, enabled: bool, read_only: bool, dead: bool
) -> None:
    assert mode_flags(mode) == {"enabled": enabled, "read_only": read_only, "dead": dead}


def test_a_disabled_pool_keeps_dcaches_status_code_and_message() -> None:
    usage = new_server_usage(
        "p",
        domain="d",
        mode="disabled(fetch,store,stage,p2p-client,p2p-server,dead)",
        status=(666, "Shutdown"),
        state="CLOSED",
    )

    snapshot = flatten(pool_entry("p", [], []), usage, at=AT)

    assert (snapshot["status_code"], snapshot["status_message"]) == (666, "Shutdown")
    assert snapshot["dead"] is True and snapshot["enabled"] is False
    assert snapshot["repository_state"] == "CLOSED"


@pytest.mark.parametrize(
    ("details", "host"),
    [
        (
            {"tagMap": {"hostname": "dcache-pool7"}, "inetAddresses": ["x.example.org"]},
            "dcache-pool7",
        ),
        ({"tagMap": {}, "inetAddresses": ["127.0.0.1", "pool7.example.org"]}, "pool7.example.org"),
        (
            {"inetAddresses": ["127.0.0.1", "::1", "192.0.2.7", "fe80:0:0:0:0:0:0:1%eth0"]},
            "192.0.2.7",
        ),
        ({"inetAddresses": ["127.0.0.1", "::1"]}, None),
        ({}, None),
    ],
)
def test_host_is_the_hostname_tag_else_a_name_else_an_address(
    details: dict[str, Any], host: str | None
) -> None:
    assert host_of(details) == host


def test_the_poolinfo_parser_nests_the_snapshot_under_dcache_pool() -> None:
    usage = new_server_usage(
        "pool_a",
        domain="pool_aDomain",
        mode="disabled(store,stage,p2p-client)",
        status=(99, "I/O error"),
    )
    snapshot = flatten(ENTRY, usage, at=AT, last_modified=MODIFIED)

    doc = parse_poolinfo(snapshot, ParseContext(producer="poolinfo", dcache_instance="desy"))

    assert doc["@timestamp"] == "2026-10-14T08:00:00.000Z"
    assert doc["host"] == {"name": "pool_a-host"}
    assert doc["dcache"]["domain"] == "pool_aDomain"
    assert doc["dcache"]["instance"] == "desy"
    pool = doc["dcache"]["pool"]
    assert pool["name"] == "pool_a" and pool["groups"] == ["default", "cms-disk"]
    assert pool["flags"] == ["store", "stage", "p2p-client"]
    assert (pool["enabled"], pool["read_only"], pool["dead"]) == (False, True, False)
    assert (pool["status_code"], pool["status_message"]) == (99, "I/O error")
    assert pool["space"] == {
        "total": 30 * TiB,
        "free": 6 * TiB,
        "precious": 0,
        "removable": 20 * TiB,
        "used": 24 * TiB,
        "gap": 4 * GiB,
    }
    assert pool["cached"] is True
    assert pool["last_modified"] == "2026-10-14T07:59:12.000Z"
