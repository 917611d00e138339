"""Billing records -> documents: every sample line, and the traps of shared/README.md."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from esbridge.transforms import ParseContext, ParseError
from esbridge.transforms.billing import parse_billing, snake_case, split_endpoint

CTX = ParseContext(producer="billing")
SITE_CTX = ParseContext(producer="billing", dcache_instance="desy")


@pytest.fixture(scope="module")
def samples(samples_dir: Path) -> list[dict[str, Any]]:
    lines = (samples_dir / "billing.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def parse(record: dict[str, Any]) -> dict[str, Any]:
    return parse_billing(record, CTX)


def pool_transfer(**changes: Any) -> dict[str, Any]:
    """A minimal pool `transfer` record, changed as given (None removes a key)."""
    record: dict[str, Any] = {
        "version": "1.0",
        "msgType": "transfer",
        "date": "2026-10-14T09:12:03.41+02:00",
        "cellName": "pool-a",
        "cellType": "pool",
        "cellDomain": "pool-aDomain",
        "status": {"code": 0, "msg": ""},
        "isWrite": "read",
        "protocolInfo": {"protocol": "Http", "versionMajor": 1, "versionMinor": 1, "port": 80},
    }
    for key, value in changes.items():
        if value is None:
            record.pop(key, None)
        else:
            record[key] = value
    return record


def test_every_billing_sample_line_is_covered_below(samples: list[dict[str, Any]]) -> None:
    assert [record["msgType"] for record in samples] == [
        "transfer",
        "transfer",
        "transfer",
        "request",
        "request",
        "remove",
        "remove",
        "store",
        "restore",
        "hit",
        "warning",
    ]


def test_billing_pool_write_transfer_sample_becomes_the_documented_fields(
    samples: list[dict[str, Any]],
) -> None:
    assert parse_billing(samples[0], SITE_CTX) == {
        "@timestamp": "2026-10-14T07:12:03.410Z",
        "event": {"action": "transfer", "outcome": "success"},
        "dcache": {
            "instance": "desy",
            "domain": "dcache-xfel497-01Domain",
            "cell": "dcache-xfel497-01",
            "cell_type": "pool",
        },
        "user": {"id": "4021", "name": "xfelops"},
        "group": {"id": "3100"},
        "client": {"ip": "131.169.40.17"},
        "billing": {
            "version": "1.0",
            "queuing_time_ms": 12,
            "status": {"code": 0, "msg": ""},
            "session": "pool:dcache-xfel497-01@dcache-xfel497-01Domain:1760425923410-311",
            "subject": [
                "UidPrincipal[4021]",
                "GidPrincipal[3100,primary]",
                "UserNamePrincipal[xfelops]",
                "Origin[131.169.40.17]",
            ],
            "pnfsid": "00003A1E5C0B7D2F4E8A9B6C1D2E3F405162",
            "path": "/pnfs/desy.de/xfel/raw/p3012/r0045/RAW-R0045-DA01-S00000.h5",
            "file_size": 8_589_934_592,
            "storage_info": "xfel:raw@osm",
            "transfer_size": 8_589_934_592,
            "transfer_time_ms": 41230,
            "direction": "write",
            "is_write": True,
            "is_p2p": False,
            "protocol": {
                "name": "NFS4",
                "version": "4.1",
                "transfer_tag": "",
                "port": 0,
                "host": "131.169.40.17",
            },
            "initiator": "door:NFS-dcache-xfel-door01@nfsDomain:AAYH2k3Lw1A:1760425882180000",
            "transfer_path": "/pnfs/desy.de/xfel/raw/p3012/r0045/RAW-R0045-DA01-S00000.h5",
            "mean_write_bandwidth": 208_347_000.0,
            "write_idle_ms": 1200.0,
            "write_active_ms": 39900.0,
            "local_endpoint": {"ip": "131.169.41.97", "port": 33115},
        },
    }


def test_billing_failed_ipv6_read_keeps_origin_and_unbracketed_host(
    samples: list[dict[str, Any]],
) -> None:
    doc = parse(samples[1])
    assert doc["@timestamp"] == "2026-10-14T07:12:04.000Z"
    assert doc["event"] == {"action": "transfer", "outcome": "failure"}
    assert doc["billing"]["status"] == {"code": 10006, "msg": "Mover timed out"}
    assert doc["client"] == {"ip": "2001:638:700:1005::1:5a"}
    assert doc["billing"]["protocol"]["host"] == "2001:638:700:1005:0:0:1:5a"
    assert doc["billing"]["protocol"]["version"] == "5.0"
    assert doc["billing"]["fqan"] == "/cms/Role=production"
    assert doc["user"] == {"id": "9811"}
    assert doc["group"] == {"id": "5063"}
    assert doc["billing"]["direction"] == "read"
    assert doc["billing"]["is_write"] is False
    assert doc["billing"]["read_idle_ms"] == 299_100.0
    assert doc["billing"]["read_active_ms"] == 900.0
    assert doc["billing"]["mean_read_bandwidth"] == 116_508_444.4
    assert doc["billing"]["file_size"] == 3_221_225_472
    assert "local_endpoint" not in doc["billing"]


def test_billing_p2p_without_origin_takes_client_ip_from_protocol_host(
    samples: list[dict[str, Any]],
) -> None:
    doc = parse(samples[2])
    assert doc["@timestamp"] == "2026-10-14T07:13:00.000Z"
    assert doc["billing"]["is_p2p"] is True
    assert doc["client"] == {"ip": "131.169.41.98"}
    assert doc["user"] == {"id": "0"}
    assert doc["group"] == {"id": "0"}
    assert doc["billing"]["file_size"] == 4_294_967_296


def test_billing_door_request_uses_upper_case_version_and_keeps_mover_as_sent(
    samples: list[dict[str, Any]],
) -> None:
    doc = parse(samples[3])
    assert doc["@timestamp"] == "2026-10-14T07:14:22.900Z"
    assert doc["event"] == {"action": "request", "outcome": "success"}
    assert doc["dcache"]["cell_type"] == "door"
    assert doc["billing"]["version"] == "1.0"
    assert doc["billing"]["mover"] == samples[3]["moverInfo"]
    assert doc["billing"]["mover"]["writeIdle"] == "PT0.01S"
    assert doc["user"] == {"id": "20311", "name": "jdoe"}
    assert doc["client"] == {"ip": "131.169.12.44"}
    assert doc["billing"]["session_duration"] == 812
    assert doc["billing"]["mapped_uid"] == 20311
    assert doc["billing"]["mapped_gid"] == 20000
    assert doc["billing"]["client"] == "131.169.12.44"
    assert doc["billing"]["client_chain"] == "131.169.12.44"
    assert doc["billing"]["owner"] == "jdoe"
    assert "direction" not in doc["billing"]


def test_billing_failed_door_request_without_pnfsid(samples: list[dict[str, Any]]) -> None:
    doc = parse(samples[4])
    assert doc["@timestamp"] == "2026-10-14T07:15:02.004Z"
    assert doc["event"]["outcome"] == "failure"
    assert doc["billing"]["status"]["code"] == 10001
    assert doc["billing"]["file_size"] == 0
    assert "pnfsid" not in doc["billing"]
    assert "client" not in doc


def test_billing_door_remove_is_told_from_pool_remove(samples: list[dict[str, Any]]) -> None:
    door, pool = parse(samples[5]), parse(samples[6])
    assert door["event"]["action"] == pool["event"]["action"] == "remove"
    assert door["billing"]["door_remove"] is True
    assert door["dcache"]["cell_type"] == "door"
    assert door["billing"]["client_chain"] == "unknown"
    assert pool["billing"]["door_remove"] is False
    assert pool["dcache"]["cell_type"] == "pool"
    assert pool["billing"]["path"] == "Unknown"
    assert pool["billing"]["transaction"] == "pool:sync-pool03@sync-pool03Domain:1760426220120-91"
    assert pool["billing"]["status"]["msg"] == "sweeper making space for new data"
    assert pool["@timestamp"] == "2026-10-14T07:17:00.120Z"


def test_billing_store_carries_hsm_and_locations(samples: list[dict[str, Any]]) -> None:
    doc = parse(samples[7])
    assert doc["event"] == {"action": "store", "outcome": "success"}
    assert doc["billing"]["hsm"] == {
        "type": "cta",
        "instance": "cta",
        "provider": "org.dcache.nearline.cta.dcache-cta",
    }
    assert doc["billing"]["locations"] == [
        "cta://cta/00003A1E5C0B7D2F4E8A9B6C1D2E3F405162?archiveid=771203"
    ]
    assert doc["billing"]["queuing_time_ms"] == 65000
    assert doc["billing"]["transfer_time_ms"] == 38000
    assert "door_remove" not in doc["billing"]


def test_billing_failed_restore_keeps_hsm_return_code(samples: list[dict[str, Any]]) -> None:
    doc = parse(samples[8])
    assert doc["@timestamp"] == "2026-10-14T08:02:11.000Z"
    assert doc["event"] == {"action": "restore", "outcome": "failure"}
    assert doc["billing"]["status"] == {"code": 43, "msg": "HSM script failed: disk write error"}
    assert doc["billing"]["hsm"]["type"] == "osm"
    assert doc["billing"]["locations"] == []
    assert doc["billing"]["file_size"] == 2_147_483_648


def test_billing_hit_reads_lower_case_filesize_and_protocol_line(
    samples: list[dict[str, Any]],
) -> None:
    doc = parse(samples[9])
    assert doc["event"] == {"action": "hit", "outcome": "success"}
    assert doc["billing"]["file_size"] == 1_048_576
    assert "filesize" not in doc["billing"]
    assert doc["billing"]["protocol"] == {
        "info": "Https-1.1:131.169.12.44:0:WebDAV-dcache-door02:webdavDomain:"
        "/pnfs/desy.de/sync/users/jdoe/report.pdf"
    }
    assert doc["billing"]["cached"] is True


def test_billing_warning_from_pool_manager(samples: list[dict[str, Any]]) -> None:
    assert parse_billing(samples[10], SITE_CTX) == {
        "@timestamp": "2026-10-14T07:30:00.250Z",
        "event": {"action": "warning", "outcome": "success"},
        "dcache": {
            "instance": "desy",
            "domain": "dCacheDomain",
            "cell": "PoolManager",
            "cell_type": "PoolManager",
        },
        "billing": {"version": "1.0", "status": {"code": 0, "msg": "Suspended: No pool online"}},
    }


def test_billing_documents_never_hold_none(samples: list[dict[str, Any]]) -> None:
    def nones(value: Any) -> int:
        if isinstance(value, dict):
            return sum(nones(v) for v in value.values()) + list(value.values()).count(None)
        if isinstance(value, list):
            return sum(nones(v) for v in value) + value.count(None)
        return 0

    assert [nones(parse(record)) for record in samples] == [0] * len(samples)


def test_billing_leaves_the_record_unchanged(samples: list[dict[str, Any]]) -> None:
    before = copy.deepcopy(samples)
    for record in samples:
        parse(record)
    assert samples == before


def test_billing_instance_is_absent_without_configured_instance(
    samples: list[dict[str, Any]],
) -> None:
    assert parse(samples[0])["dcache"] == {
        "domain": "dcache-xfel497-01Domain",
        "cell": "dcache-xfel497-01",
        "cell_type": "pool",
    }


@pytest.mark.parametrize(
    ("date", "expected"),
    [
        ("2026-10-14T02:12:48-05:00", "2026-10-14T07:12:48.000Z"),
        ("2026-10-14T09:12:30.12+02:00", "2026-10-14T07:12:30.120Z"),
        ("2026-10-14T07:12:30.1Z", "2026-10-14T07:12:30.100Z"),
    ],
)
def test_billing_date_with_any_offset_and_fraction(date: str, expected: str) -> None:
    assert parse(pool_transfer(date=date))["@timestamp"] == expected


@pytest.mark.parametrize("missing", ["date", "msgType"])
def test_billing_without_date_or_msg_type_is_missing_field(missing: str) -> None:
    with pytest.raises(ParseError) as caught:
        parse(pool_transfer(**{missing: None}))
    assert caught.value.error_type == "missing_field"
    assert caught.value.reason == f"billing record has no {missing!r}"


@pytest.mark.parametrize("date", ["2026-10-14T09:12:03", "yesterday", 1760425923])
def test_billing_unreadable_date_is_bad_timestamp(date: Any) -> None:
    with pytest.raises(ParseError) as caught:
        parse(pool_transfer(date=date))
    assert caught.value.error_type == "bad_timestamp"
    assert repr(date) in caught.value.reason


def test_billing_malformed_duration_is_parse_error() -> None:
    with pytest.raises(ParseError) as caught:
        parse(pool_transfer(readIdle="1.5 seconds"))
    assert caught.value.error_type == "parse_error"
    assert caught.value.reason == "not an ISO-8601 duration: '1.5 seconds'"


def test_billing_status_of_the_wrong_shape_is_parse_error() -> None:
    with pytest.raises(ParseError) as caught:
        parse(pool_transfer(status="ok"))
    assert caught.value.error_type == "parse_error"
    assert caught.value.reason.startswith("malformed billing record: ")


def test_billing_without_status_has_no_outcome() -> None:
    doc = parse(pool_transfer(status=None))
    assert doc["event"] == {"action": "transfer"}
    assert "status" not in doc["billing"]


def test_billing_bracketed_ipv6_local_endpoint_is_split() -> None:
    doc = parse(pool_transfer(localEndpoint="[2001:638:700:1005::1:5a]:33115"))
    assert doc["billing"]["local_endpoint"] == {"ip": "2001:638:700:1005::1:5a", "port": 33115}


@pytest.mark.parametrize(
    "endpoint", ["pool-a.desy.de:33115", "131.169.41.97", "131.169.41.97:http", "[::1]:70000"]
)
def test_billing_unusable_local_endpoint_is_kept_raw(endpoint: str) -> None:
    doc = parse(pool_transfer(localEndpoint=endpoint))
    assert doc["billing"]["local_endpoint"] == {"raw": endpoint}


@pytest.mark.parametrize("host", ["dcache-door02.desy.de", "fe80::1%eth0", "300.1.2.3", ""])
def test_billing_invalid_protocol_host_moves_to_host_raw(host: str) -> None:
    doc = parse(pool_transfer(protocolInfo={"protocol": "Xrootd", "host": host, "port": 1094}))
    assert doc["billing"]["protocol"] == {"name": "Xrootd", "host_raw": host, "port": 1094}
    assert "client" not in doc


def test_billing_invalid_origin_falls_back_to_protocol_host() -> None:
    doc = parse(
        pool_transfer(
            subject=["UidPrincipal[1]", "Origin[unknown]"],
            protocolInfo={"protocol": "Https", "host": "131.169.12.44"},
        )
    )
    assert doc["client"] == {"ip": "131.169.12.44"}
    assert doc["billing"]["subject"] == ["UidPrincipal[1]", "Origin[unknown]"]


def test_billing_takes_only_primary_group_and_fqan() -> None:
    doc = parse(
        pool_transfer(
            subject=[
                "GidPrincipal[100]",
                "FQANPrincipal[/atlas]",
                "GidPrincipal[200,primary]",
                "FQANPrincipal[/atlas/Role=pilot,primary]",
                "GlobusPrincipal[/DC=org/DC=example/CN=Jane Doe, Jr.]",
                "ExemptFromNamespaceChecks",
            ]
        )
    )
    assert doc["group"] == {"id": "200"}
    assert doc["billing"]["fqan"] == "/atlas/Role=pilot"
    assert "user" not in doc


def test_billing_subject_without_primary_group_sets_no_group() -> None:
    doc = parse(pool_transfer(subject=["UidPrincipal[7]", "GidPrincipal[8]"]))
    assert doc["user"] == {"id": "7"}
    assert "group" not in doc


def test_billing_unknown_keys_are_snake_cased_under_billing() -> None:
    doc = parse(
        pool_transfer(
            newCounterValue=2**40,
            retryHTTPStatus="503",
            nestedInfo={"someKey": 1},
            droppedValue=None,
        )
    )
    assert doc["billing"]["new_counter_value"] == 1_099_511_627_776
    assert doc["billing"]["retry_http_status"] == "503"
    assert doc["billing"]["nested_info"] == {"someKey": 1}
    assert "dropped_value" not in doc["billing"]


def test_billing_unknown_key_colliding_with_a_mapped_field_goes_to_unmapped() -> None:
    doc = parse(pool_transfer(direction="in", Path="/x", unmapped=1, billingPath="/pnfs/a"))
    assert doc["billing"]["direction"] == "read"
    assert doc["billing"]["path"] == "/pnfs/a"
    assert doc["billing"]["unmapped"] == {"direction": "in", "path": "/x", "unmapped": 1}


def test_billing_protocol_version_and_extra_protocol_keys() -> None:
    doc = parse(
        pool_transfer(
            protocolInfo={"protocol": "GFtp", "versionMajor": 2, "sessionId": "s1", "port": None}
        )
    )
    assert doc["billing"]["protocol"] == {"name": "GFtp", "version": "2", "session_id": "s1"}


def test_billing_is_write_follows_the_string_not_its_truthiness() -> None:
    assert parse(pool_transfer(isWrite="write"))["billing"]["is_write"] is True
    assert parse(pool_transfer(isWrite="read"))["billing"]["is_write"] is False


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        ("mappedUID", "mapped_uid"),
        ("sessionDuration", "session_duration"),
        ("HTTPStatus", "http_status"),
        ("VERSION", "version"),
        ("user-agent", "user_agent"),
        ("already_snake", "already_snake"),
    ],
)
def test_snake_case(key: str, expected: str) -> None:
    assert snake_case(key) == expected


@pytest.mark.parametrize(
    ("endpoint", "expected"),
    [
        ("131.169.41.97:33115", ("131.169.41.97", 33115)),
        ("[2001:db8::7]:443", ("2001:db8::7", 443)),
        ("[::ffff:10.0.0.1]:0", ("::ffff:10.0.0.1", 0)),
        ("2001:db8::7", None),
        ("[2001:db8::7]", None),
        ("10.0.0.1:", None),
        ("10.0.0.1:65536", None),
        ("10.0.0.1:٣", None),
    ],
)
def test_split_endpoint(endpoint: str, expected: tuple[str, int] | None) -> None:
    assert split_endpoint(endpoint) == expected
