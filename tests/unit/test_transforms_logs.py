"""Domain log lines -> documents: every sample line, pool-state forms, unparsable lines."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from esbridge.transforms import ParseContext, ParseError
from esbridge.transforms.logs import LOG_LINE_PATTERN, parse_logs, pool_state_fields

BERLIN = ParseContext(producer="logs", log_timezone=ZoneInfo("Europe/Berlin"))
RESTART_MODES = [
    (
        "disabled(fetch,store,stage,p2p-client,p2p-server,dead)",
        ["fetch", "store", "stage", "p2p-client", "p2p-server", "dead"],
        "Shutdown",
    ),
    (
        "disabled(fetch,store,stage,p2p-client,p2p-server)",
        ["fetch", "store", "stage", "p2p-client", "p2p-server"],
        "Awaiting initialization",
    ),
    (
        "disabled(store,stage,p2p-client,loading)",
        ["store", "stage", "p2p-client", "loading"],
        "Loading...",
    ),
]


@pytest.fixture(scope="module")
def samples(samples_dir: Path) -> list[dict[str, Any]]:
    lines = (samples_dir / "logs.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def file_event(message: Any, **extra: Any) -> dict[str, Any]:
    event: dict[str, Any] = {
        "@timestamp": "2026-10-14T08:00:00.123Z",
        "message": message,
        "host": {"name": "node1"},
        "log": {"file": {"path": "/var/log/dcache/pool-aDomain.log"}, "offset": 0},
    }
    event.update(extra)
    return event


def parse(record: dict[str, Any]) -> dict[str, Any]:
    return parse_logs(record, BERLIN)


def test_every_logs_sample_line_is_covered_below(samples: list[dict[str, Any]]) -> None:
    assert len(samples) == 11


def test_logs_journald_shutdown_line_becomes_the_documented_fields(
    samples: list[dict[str, Any]],
) -> None:
    context = ParseContext(producer="logs", log_timezone=BERLIN.log_timezone, dcache_instance="x")
    assert parse_logs(samples[0], context) == {
        "@timestamp": "2026-10-14T07:49:55.000Z",
        "message": "Pool mode changed to disabled(fetch,store,stage,p2p-client,p2p-server,dead):"
        " Shutdown",
        "log": {
            "parsed": True,
            "logger": "dcache-xfel497-01",
            "syslog": {"identifier": "dcache@dcache-xfel497-01Domain"},
        },
        "host": {"name": "xfel497"},
        "dcache": {
            "instance": "x",
            "domain": "dcache-xfel497-01Domain",
            "cell": "dcache-xfel497-01",
            "pool": {
                "name": "dcache-xfel497-01",
                "mode": "disabled(fetch,store,stage,p2p-client,p2p-server,dead)",
                "flags": ["fetch", "store", "stage", "p2p-client", "p2p-server", "dead"],
                "reason": "Shutdown",
            },
        },
    }


def test_logs_pool_restart_sequence_samples_in_order(samples: list[dict[str, Any]]) -> None:
    docs = [parse(record) for record in samples[0:4]]
    assert [doc["dcache"]["pool"] for doc in docs] == [
        {"name": "dcache-xfel497-01", "mode": mode, "flags": flags, "reason": reason}
        for mode, flags, reason in RESTART_MODES
    ] + [{"name": "dcache-xfel497-01", "mode": "enabled"}]
    assert [doc["@timestamp"] for doc in docs] == [
        "2026-10-14T07:49:55.000Z",
        "2026-10-14T07:50:40.000Z",
        "2026-10-14T07:50:41.000Z",
        "2026-10-14T07:52:03.000Z",
    ]


def test_logs_pool_manager_echo_with_two_spaces_names_the_pool(
    samples: list[dict[str, Any]],
) -> None:
    doc = parse(samples[4])
    assert doc["dcache"] == {
        "domain": "dCacheDomain",
        "cell": "PoolManager",
        "pool": {
            "name": "dcache-xfel497-01",
            "mode": "enabled",
            "previous_mode": "disabled(store,stage,p2p-client,loading)",
        },
    }
    assert doc["log"]["ndc"] == "dcache-xfel497-01 PoolManagerPoolUp"
    assert doc["log"]["logger"] == "PoolManager"
    assert doc["@timestamp"] == "2026-10-14T08:01:13.000Z"


def test_logs_fault_driven_disable_keeps_the_pool_disabled_reason(
    samples: list[dict[str, Any]],
) -> None:
    assert parse(samples[5])["dcache"]["pool"] == {
        "name": "cms-pool017",
        "mode": "disabled(fetch,store,stage,p2p-client,p2p-server)",
        "flags": ["fetch", "store", "stage", "p2p-client", "p2p-server"],
        "reason": "Pool disabled: I/O test failed",
    }


def test_logs_fault_report_from_a_file_names_pool_and_cause(
    samples: list[dict[str, Any]],
) -> None:
    doc = parse(samples[6])
    assert doc["dcache"] == {
        "domain": "cms-pool017Domain",
        "cell": "cms-pool017",
        "pool": {"name": "cms-pool017", "reason": "I/O test failed"},
    }
    assert doc["log"] == {
        "parsed": True,
        "logger": "cms-pool017",
        "file": {"path": "/var/log/dcache/cms-pool017Domain.log"},
    }
    assert doc["message"] == (
        "Pool: cms-pool017, fault occurred in repository: I/O test failed. Pool disabled: "
    )


def test_logs_operator_disable_has_mode_without_flags(samples: list[dict[str, Any]]) -> None:
    assert parse(samples[7])["dcache"]["pool"] == {
        "name": "cms-pool018",
        "mode": "disabled()",
        "reason": "Operator intervention",
    }


def test_logs_pool_declared_down_names_the_pool(samples: list[dict[str, Any]]) -> None:
    doc = parse(samples[8])
    assert doc["dcache"]["pool"] == {"name": "sync-pool09", "reason": "no ping in 600 seconds"}
    assert doc["dcache"]["cell"] == "PoolManager"


def test_logs_stack_trace_goes_to_error_stack_trace(samples: list[dict[str, Any]]) -> None:
    doc = parse(samples[9])
    assert doc["message"] == (
        "Restarting due to fatal JVM error: java.lang.OutOfMemoryError: Java heap space"
    )
    assert doc["error"] == {
        "stack_trace": "\tat org.dcache.pool.repository.v5.ReplicaRepository.fetch"
        "(ReplicaRepository.java:512)\n"
        "\tat dmg.cells.nucleus.CellAdapter.messageArrived(CellAdapter.java:1000)"
    }
    assert doc["dcache"] == {"domain": "sync-pool03Domain", "cell": "System"}
    assert doc["@timestamp"] == "2026-10-14T08:31:00.000Z"


def test_logs_unparsable_line_is_kept_with_filebeat_time(samples: list[dict[str, Any]]) -> None:
    assert parse(samples[10]) == {
        "@timestamp": "2026-10-14T08:32:00.000Z",
        "message": "2026-10-14 10:32:00 Launching /usr/bin/java -server -Xmx4g "
        "-XX:+ExitOnOutOfMemoryError",
        "log": {"parsed": False, "file": {"path": "/var/log/dcache/sync-pool03Domain.log"}},
        "host": {"name": "syncnode03"},
        "dcache": {"domain": "sync-pool03Domain"},
    }


def test_logs_unparsable_multi_line_message_is_kept_whole() -> None:
    text = "Exception in thread main\n\tat Foo.bar(Foo.java:1)"
    doc = parse(file_event(text))
    assert doc["message"] == text
    assert doc["log"]["parsed"] is False
    assert "error" not in doc


def test_logs_unparsable_line_without_filebeat_time_is_bad_timestamp() -> None:
    record = file_event("garbage")
    del record["@timestamp"]
    with pytest.raises(ParseError) as caught:
        parse(record)
    assert caught.value.error_type == "bad_timestamp"
    assert caught.value.reason == "no usable date in the line and no Filebeat @timestamp"


def test_logs_impossible_line_date_falls_back_to_filebeat_time() -> None:
    doc = parse(file_event("31 Feb 2026 10:00:00 (pool-a) [] Something"))
    assert doc["@timestamp"] == "2026-10-14T08:00:00.123Z"
    assert doc["log"]["parsed"] is True
    assert doc["message"] == "Something"


def test_logs_line_date_wins_over_filebeat_time_across_dst_end() -> None:
    # 25 Oct 2026, 02:30 in Berlin happens twice; the first (CEST) occurrence is taken.
    doc = parse(file_event("25 Oct 2026 02:30:00 (pool-a) [] x"))
    assert doc["@timestamp"] == "2026-10-25T00:30:00.000Z"
    winter = parse(file_event("14 Dec 2026 10:00:00 (pool-a) [] x"))
    assert winter["@timestamp"] == "2026-12-14T09:00:00.000Z"


def test_logs_en_gb_sept_month_parses() -> None:
    doc = parse(file_event("14 Sept 2026 10:00:00 (pool-a) [] x"))
    assert doc["@timestamp"] == "2026-09-14T08:00:00.000Z"
    assert doc["log"]["parsed"] is True


def test_logs_domain_from_systemd_unit_when_identifier_is_absent() -> None:
    record = {
        "@timestamp": "2026-10-14T08:00:00Z",
        "message": "14 Oct 2026 10:00:00 (PoolManager) [] x",
        "systemd": {"unit": "dcache@dCacheDomain.service"},
    }
    assert parse(record)["dcache"] == {"domain": "dCacheDomain", "cell": "PoolManager"}


def test_logs_unknown_file_name_gives_no_domain() -> None:
    record = file_event("14 Oct 2026 10:00:00 () [] x", log={"file": {"path": "/tmp/out.txt"}})
    doc = parse(record)
    assert "dcache" not in doc
    assert doc["log"] == {"parsed": True, "file": {"path": "/tmp/out.txt"}}


def test_logs_event_without_message_is_missing_field() -> None:
    with pytest.raises(ParseError) as caught:
        parse({"@timestamp": "2026-10-14T08:00:00Z"})
    assert caught.value.error_type == "missing_field"


def test_logs_message_of_the_wrong_type_is_parse_error() -> None:
    with pytest.raises(ParseError) as caught:
        parse(file_event(["not", "text"]))
    assert caught.value.error_type == "parse_error"


@pytest.mark.parametrize(("mode", "flags", "reason"), RESTART_MODES)
def test_pool_mode_restart_forms(mode: str, flags: list[str], reason: str) -> None:
    assert pool_state_fields("p1", f"Pool mode changed to {mode}: {reason}") == {
        "name": "p1",
        "mode": mode,
        "flags": flags,
        "reason": reason,
    }


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Pool mode changed to enabled", {"mode": "enabled"}),
        (
            "Pool mode changed to disabled(): Operator intervention",
            {"mode": "disabled()", "reason": "Operator intervention"},
        ),
        (
            "Pool mode changed to disabled(store,stage,p2p-client): Pool read-only: disk full",
            {
                "mode": "disabled(store,stage,p2p-client)",
                "flags": ["store", "stage", "p2p-client"],
                "reason": "Pool read-only: disk full",
            },
        ),
        (
            "Pool mode changed to disabled(fetch,store,stage,p2p-client,p2p-server,dead): "
            "Pool restart required: checksum scanner died",
            {
                "mode": "disabled(fetch,store,stage,p2p-client,p2p-server,dead)",
                "flags": ["fetch", "store", "stage", "p2p-client", "p2p-server", "dead"],
                "reason": "Pool restart required: checksum scanner died",
            },
        ),
        (
            "Pool mode changed to disabled(fetch,draining,noresilience): Draining for retirement",
            {
                "mode": "disabled(fetch,draining,noresilience)",
                "flags": ["fetch", "draining", "noresilience"],
                "reason": "Draining for retirement",
            },
        ),
    ],
)
def test_pool_mode_operator_and_fault_forms(text: str, expected: dict[str, Any]) -> None:
    assert pool_state_fields("p1", text) == {"name": "p1", **expected}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "Pool p7 changed from mode enabled  to disabled(fetch,store,stage,p2p-client,"
            "p2p-server).",
            {
                "name": "p7",
                "previous_mode": "enabled",
                "mode": "disabled(fetch,store,stage,p2p-client,p2p-server)",
                "flags": ["fetch", "store", "stage", "p2p-client", "p2p-server"],
            },
        ),
        (
            "Pool p7 changed from mode disabled()  to enabled.",
            {"name": "p7", "previous_mode": "disabled()", "mode": "enabled"},
        ),
        (
            "Pool p7 declared as DOWN: no ping in 600 seconds.",
            {"name": "p7", "reason": "no ping in 600 seconds"},
        ),
        (
            "Pool: p7, fault occurred in repository: Disk full. Pool read-only: ",
            {"name": "p7", "reason": "Disk full"},
        ),
        (
            "Pool: p7, fault occurred in checksum scanner: failed. Pool restart required: ",
            {"name": "p7", "reason": "failed"},
        ),
    ],
)
def test_pool_manager_and_fault_lines_name_the_pool(text: str, expected: dict[str, Any]) -> None:
    assert pool_state_fields("PoolManager", text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "Pool selection failed for cms:tier2@osm: No pool online",
        "Pool p7 is full",
        "Failed to send message to kafka: timeout",
    ],
)
def test_other_lines_have_no_pool_state(text: str) -> None:
    assert pool_state_fields("PoolManager", text) is None


def test_log_line_pattern_has_the_named_groups_a_grok_pattern_needs() -> None:
    match = re.fullmatch(LOG_LINE_PATTERN, "04 Oct 2026 09:49:55 (c-1) [a b] text: (x) [y]")
    assert match is not None
    assert match.groupdict() == {
        "day": "04",
        "month": "Oct",
        "year": "2026",
        "time": "09:49:55",
        "cell": "c-1",
        "ndc": "a b",
        "message": "text: (x) [y]",
    }
