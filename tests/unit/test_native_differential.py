"""The native engine makes byte-identical bulk lines to the Python reference, or defers.

Every billing sample, the simulator's billing stream (several seeds), every bad-message kind and
a fuzz corpus of mutated real messages go through both engines; a line the native engine makes
must equal Python's byte for byte (action line, document, key order), and a message it declines
(`None`) must be one Python dead-letters or one it cannot prove identical (reported).
"""

from __future__ import annotations

import os
import random
from dataclasses import replace
from typing import Any

import orjson
import pytest

from esbridge.ingest.engine import Encoder, billing_lines
from esbridge.transforms import PARSERS
from tests.helpers.differential import (
    INGESTED,
    NATIVE,
    NOT_BUILT,
    TARGET,
    TOPIC,
    as_messages,
    billing_route,
    compare,
    simulated_billing,
)
from tests.helpers.paths import SAMPLES

# CI sets ESBRIDGE_REQUIRE_NATIVE=1 so that a build that silently lost the extension fails here
# instead of skipping.
pytestmark = pytest.mark.skipif(
    NATIVE is None and not os.environ.get("ESBRIDGE_REQUIRE_NATIVE"), reason=NOT_BUILT
)

SIM_MESSAGES = 100_000


def sample_billing() -> list[bytes]:
    return (SAMPLES / "billing.jsonl").read_bytes().splitlines()


def assert_identical(values: list[bytes | None], **route: Any) -> Any:
    result = compare(as_messages(values), billing_route(**route))
    assert not result.differences, result.first_difference()
    return result


def test_every_billing_sample_is_identical_and_none_is_deferred() -> None:
    result = assert_identical(list(sample_billing()))
    assert result.native_lines == len(sample_billing())
    assert result.deferred_documents == []


@pytest.mark.parametrize("seed", [0, 1, 7])
def test_the_simulators_billing_stream_is_identical(seed: int) -> None:
    values: list[bytes | None] = list(simulated_billing(SIM_MESSAGES, seed))
    result = assert_identical(values)
    assert result.native_lines == SIM_MESSAGES, result.deferred_documents[:1]


@pytest.mark.parametrize(
    ("route", "values"),
    [
        ({}, [b'{"msgType":"transfer"', b"not json", b""]),
        ({}, [b'{"msgType":"transfer","date":"\xff"}', b"\xfe\xff"]),
        ({}, [b"[1,2]", b'"text"', b"42", b"null", None]),
        ({}, [b'{"msgType":"transfer"}', b'{"date":"2026-10-14T07:00:00.000+02:00"}']),
        ({"mandatory": (("status", "code"),)}, [b'{"msgType":"x","date":"2026-10-14T07:00Z"}']),
        ({}, [b'{"msgType":"x","date":"2026-10-14T07:00:00"}', b'{"msgType":"x","date":"x"}']),
        ({"max_message_bytes": 40}, [b'{"msgType":"x","date":"2026-10-14T07:00:00Z","a":1}']),
        ({}, [b'{"msgType":"x","date":"2026-10-14T07:00:00Z","readIdle":"PT"}']),
    ],
    ids=[
        "not-json",
        "not-utf8",
        "not-an-object",
        "missing-field",
        "missing-configured",
        "bad-timestamp",
        "oversize",
        "parse-error",
    ],
)
def test_every_bad_message_is_left_to_python_which_dead_letters_it(
    route: dict[str, Any], values: list[bytes | None]
) -> None:
    result = assert_identical(values, **route)
    assert result.native_lines == 0
    assert result.deferred_dead == len(values)


def test_the_envelope_options_are_identical() -> None:
    values: list[bytes | None] = list(sample_billing())
    assert_identical(values, original_max_bytes=100)  # cut inside `event.original`
    assert_identical(values, deterministic_ids=False, instance=None)
    assert_identical(
        [v.replace(b'"transfer"', b'"tr\xc3\xa4nsf\xc3\xa9r"') for v in sample_billing()],
        original_max_bytes=20,
    )


def test_without_event_original_the_lines_are_identical_and_carry_no_copy() -> None:
    values: list[bytes | None] = [*sample_billing(), *simulated_billing(20_000, seed=3)]
    result = assert_identical(values, event_original=False)
    assert result.native_lines == len(values)
    assert_identical(values, event_original=False, original_max_bytes=20)
    assert NATIVE is not None, NOT_BUILT
    lines = billing_lines(
        NATIVE,
        as_messages(values[:50]),
        TOPIC,
        billing_route(event_original=False, original_max_bytes=20),
        INGESTED,
    )
    for made in lines:
        assert made is not None
        event = orjson.loads(made[0].split(b"\n")[1])["event"]
        assert "original" not in event
        assert "truncated" not in event
        assert event["hash"] == made[1]


ODD_VALUES: list[Any] = [
    None,
    True,
    False,
    0,
    -1,
    1.5,
    -0.0,
    1e16,
    1e-7,
    123456789.123456789,
    2**63,
    2**64 - 1,
    "",
    "x",
    "write",
    "door",
    "remove",
    "PT0S",
    "PT-0S",
    "PT0.0764S",
    "PT0.0000078125S",
    "PT1M30S",
    "P1DT2H",
    "PT.5S",
    "PT12345678901234567890S",
    '\u2028\u00e9\U0001f600\u0301\x00\x1f\x7f"\\/',
    "::1",
    "fe80::1%eth0",
    "192.168.001.1",
    "10.0.0.1",
    "::ffff:10.0.0.1",
    "1::2:3:4:5:6:7",
    "1:2:3:4:5:6:7::",
    "[::1]:8080",
    "10.0.0.1:65536",
    "10.0.0.1:0080",
    "10.0.0.1:",
    "2026-10-14T07:00:00Z",
    "2026-10-14T07:00:00.1+05:30",
    "2026-10-14T07:00:00.123456789-0800",
    "2026-10-14T07:00:00.1234567+00:00",
    "2026-02-29T07:00:00Z",
    "2024-02-29T23:59:59.999-23:59",
    "2026-10-14 07:00:00Z",
    "2026-10-14T07:00:00z",
    "0001-01-01T00:00:00+01:00",
    "9999-12-31T23:59:59-01:00",
    ["UidPrincipal[1]", "GidPrincipal[2,primary]", "Origin[10.0.0.2]"],
    ["GidPrincipal[3]", "FQANPrincipal[/atlas,primary]", "Origin[nohost]", "UserNamePrincipal"],
    ["UserNamePrincipal[a]", 5],
    "UidPrincipal[1]",
    [],
    {},
    {"code": 0},
    {"code": False},
    {"code": 0.0},
    {"code": "0"},
    {"code": None, "msg": "x"},
    {"host": "10.0.0.9", "protocol": "xrootd", "versionMajor": 5, "versionMinor": 1},
    {"host": "not-an-ip", "Host": 7, "versionMajor": "3"},
    {"versionMajor": 1.5},
    {"versionMajor": True, "versionMinor": 0},
    {"hostRaw": 1, "host": "bad", "fooBARBaz": [1]},
]
ODD_KEYS = [
    "newKey",
    "mappedUID",
    "user-agent",
    "file_size",
    "transfer_path",
    "unmapped",
    "status",
    "Status",
    "VERSION",
    "filesize",
    "HTTPServer",
    "ABc",
    "a1B",
    "clé",
    "ΣΑΣ",
    "",
]
TARGET_KEYS = [
    "date",
    "msgType",
    "status",
    "isWrite",
    "protocolInfo",
    "protocol",
    "localEndpoint",
    "subject",
    "readIdle",
    "writeActive",
    "cellType",
    "cellName",
    "fileSize",
    "versionMajor",
]


def mutate(raw: bytes, rng: random.Random) -> bytes:
    """One random mutation of a real message: truncation, type changes, odd Unicode and keys,
    huge numbers, deep nesting or a duplicate key."""
    choice = rng.randrange(9)
    if choice == 0 or len(raw) < 2:
        return raw[: rng.randrange(len(raw) or 1)]
    record = orjson.loads(raw)
    if not isinstance(record, dict) or not record:
        return raw
    if choice == 1:
        record[rng.choice(TARGET_KEYS)] = rng.choice(ODD_VALUES)
    elif choice == 2:
        record[rng.choice(ODD_KEYS)] = rng.choice(ODD_VALUES)
    elif choice == 3:
        info = record.get("protocolInfo")
        if isinstance(info, dict):
            info[rng.choice(["host", "Host", "protocol", *ODD_KEYS])] = rng.choice(ODD_VALUES)
        record["localEndpoint"] = rng.choice(ODD_VALUES)
    elif choice == 4:
        key = rng.choice(list(record))
        text = orjson.dumps(record).decode()
        huge = rng.choice(["123456789012345678901234567890", "1e400", "-0", "-9223372036854775809"])
        return text.replace(f'"{key}":', f'"{key}":{huge},"{key}_":', 1).encode()
    elif choice == 5:
        depth = rng.choice([5, 127, 130, 2000])
        record[rng.choice(ODD_KEYS)] = orjson.loads("[" * depth + "]" * depth)
    elif choice == 6:
        key = rng.choice(list(record))
        return raw[:-1] + b',"' + key.encode() + b'":' + orjson.dumps(rng.choice(ODD_VALUES)) + b"}"
    elif choice == 7:
        escapes = ['"\\ud800"', '"\\udc00x"', '"\\ud83d\\ude00"', '"\\u00e9\\n\\/"', '"\\u0000"']
        key = rng.choice(list(record))
        text = orjson.dumps(record).decode()
        return text.replace(f'"{key}":', f'"{key}":{rng.choice(escapes)},"x{key}":', 1).encode()
    else:
        record["date"] = rng.choice([v for v in ODD_VALUES if isinstance(v, str)])
    return orjson.dumps(record)


def test_a_fuzz_corpus_of_mutated_real_messages_is_identical_or_deferred() -> None:
    rng = random.Random(15)
    real = sample_billing() + simulated_billing(2000, seed=3)
    corpus: list[bytes | None] = []
    for _ in range(20_000):
        raw = rng.choice(real)
        for _ in range(rng.randrange(1, 4)):
            try:
                raw = mutate(raw, rng)
            except orjson.JSONDecodeError:
                break  # a truncation already made it unreadable
        corpus.append(raw)
    result = assert_identical(corpus)
    assert result.native_lines > len(corpus) // 5  # the fuzz reaches the native path
    assert_identical(corpus, original_max_bytes=64, deterministic_ids=False)
    assert_identical(corpus, event_original=False)


def test_the_native_encoder_keeps_message_order_across_producers_and_deferred_messages() -> None:
    billing = billing_route()
    logs = replace(billing, producer="logs", index="dcache-logs", parser=PARSERS["logs"])
    values = [*sample_billing()[:3], b"not json", sample_billing()[3]]
    messages = as_messages(values)
    mixed = [*messages, type(messages[0])("dcache-logs", 0, 9, b'{"message":"x"}')]
    routes = {TOPIC: billing, "dcache-logs": logs}
    encoder = Encoder(NATIVE)
    native = encoder.items(mixed, routes, TARGET, INGESTED)
    python = Encoder().items(mixed, routes, TARGET, INGESTED)
    assert [i.message for i in native] == mixed
    assert [i.line for i in native if not i.dead] == [i.line for i in python if not i.dead]
    assert [i.dead for i in native] == [i.dead for i in python]
    assert (encoder.native_items, encoder.deferred) == (4, 2)  # the log event has no date
