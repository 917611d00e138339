"""The native engine makes byte-identical bulk lines to Python for logs, access and poolinfo.

As tests/unit/test_native_differential.py does for billing: every sample, the simulator's
stream (seeds 0, 1, 7), every bad-message kind and a fuzz corpus of mutated real messages go
through both engines; a native line must equal Python's byte for byte, and a message the native
engine declines must be one Python dead-letters or one it cannot prove identical. Real samples
must not be declined, so the native path is what these tests exercise.
"""

from __future__ import annotations

import os
import random
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import orjson
import pytest

from esbridge.ingest.engine import NATIVE_PARSERS, Encoder
from esbridge.transforms import PARSERS
from tests.helpers.differential import (
    INGESTED,
    NATIVE,
    NOT_BUILT,
    TARGET,
    Comparison,
    as_messages,
    compare,
    fuzz_corpus,
    mutated_text,
    producer_route,
    simulated,
)
from tests.helpers.paths import SAMPLES

pytestmark = pytest.mark.skipif(
    NATIVE is None and not os.environ.get("ESBRIDGE_REQUIRE_NATIVE"), reason=NOT_BUILT
)

PRODUCERS = ["logs", "access", "poolinfo"]
SIM_FULL = 100_000
"""Messages per stream and seed, as issue 15 asks."""
SIM_SHORT = 20_000
"""The Berlin log stream, on top of the three full UTC streams."""


def samples(parser: str) -> list[bytes]:
    return (SAMPLES / f"{parser}.jsonl").read_bytes().splitlines()


def assert_identical(parser: str, values: list[bytes | None], **route: Any) -> Comparison:
    messages = as_messages(values, topic=f"dcache-{parser}")
    result = compare(messages, producer_route(parser, **route), parser)
    assert not result.differences, result.first_difference()
    return result


def test_every_native_parser_has_a_native_function_and_every_function_a_parser() -> None:
    assert NATIVE is not None, NOT_BUILT
    functions = {name.removesuffix("_lines") for name in dir(NATIVE) if name.endswith("_lines")}
    assert functions == set(NATIVE_PARSERS)
    assert set(NATIVE_PARSERS) <= set(PARSERS)


@pytest.mark.parametrize("parser", PRODUCERS)
def test_every_sample_is_identical_and_none_is_deferred(parser: str) -> None:
    result = assert_identical(parser, list(samples(parser)))
    assert result.native_lines == len(samples(parser))
    assert result.deferred_documents == []


@pytest.mark.parametrize("zone", ["Etc/UTC", "Europe/Berlin"])
def test_log_samples_read_in_another_zone_are_identical_and_native(zone: str) -> None:
    result = assert_identical("logs", list(samples("logs")), zone=zone)
    assert result.deferred_documents == []


ZONES = [
    "Europe/Berlin",
    "Europe/Dublin",  # a negative DST in zoneinfo's data
    "America/New_York",
    "Australia/Lord_Howe",  # a 30-minute DST
    "Asia/Kathmandu",  # +05:45
    "Pacific/Apia",  # skipped 30 Dec 2011
    "Antarctica/Troll",  # a 2-hour DST
    "America/Sao_Paulo",  # DST abolished in 2019
]


def dated_log_lines(zone: str) -> list[bytes | None]:
    """One log line every 10 minutes (and one a second near each turn) across each day on
    which `zone`'s offset changes in a few years, one a month in 2026, and three dates outside
    the table's years."""
    tz = ZoneInfo(zone)
    days: list[datetime] = []
    for year in (1990, 2011, 2026, 2037, 2045, 2059):
        day = datetime(year, 1, 1)
        while day.year == year:
            if (day + timedelta(days=1)).replace(tzinfo=tz).utcoffset() != day.replace(
                tzinfo=tz
            ).utcoffset():
                days.append(day)
            day += timedelta(days=1)
    moments = [d + timedelta(minutes=10 * i) for d in days for i in range(2 * 24 * 6)]
    moments += [
        d + timedelta(hours=h, seconds=s) for d in days for h in (1, 2, 3) for s in (-1, 0, 1, 59)
    ]
    moments += [datetime(2026, month, 1, 12, 34, 56) for month in range(1, 13)]
    moments += [datetime(1989, 12, 31, 23, 59, 59), datetime(2060, 1, 1), datetime(1, 1, 1)]
    lines = []
    for moment in moments:
        date = f"{moment.day:02d} {moment:%b} {moment.year:04d} {moment:%H:%M:%S}"
        event = {"@timestamp": "2026-10-14T07:00:00Z", "message": f"{date} (c) [] m"}
        lines.append(orjson.dumps(event))
    return lines


@pytest.mark.parametrize("zone", ZONES)
def test_log_dates_around_every_offset_change_are_identical_in_every_zone(zone: str) -> None:
    values = dated_log_lines(zone)
    result = assert_identical("logs", values, zone=zone)
    assert len(result.deferred_documents) == 3  # the three dates outside LOG_ZONE_YEARS
    assert result.native_lines == len(values) - 3


@pytest.mark.parametrize("parser", PRODUCERS)
@pytest.mark.parametrize("seed", [0, 1, 7])
def test_the_simulators_stream_is_identical(parser: str, seed: int) -> None:
    values: list[bytes | None] = list(simulated(parser, SIM_FULL, seed))
    assert len(values) == SIM_FULL
    result = assert_identical(parser, values)
    assert result.native_lines == SIM_FULL, result.deferred_documents[:1]


def test_the_simulators_berlin_log_stream_is_identical_and_native() -> None:
    values: list[bytes | None] = list(simulated("logs", SIM_SHORT, 3, log_zone="Europe/Berlin"))
    result = assert_identical("logs", values, zone="Europe/Berlin")
    assert result.native_lines == SIM_SHORT, result.deferred_documents[:1]


BAD_MESSAGES: list[tuple[str, dict[str, Any], list[bytes | None]]] = (
    [
        (parser, {}, [b'{"message":"x"', b"not json", b"", b"\xfe\xff", b'{"message":"\xff"}'])
        for parser in PRODUCERS
    ]
    + [(parser, {}, [b"[1,2]", b'"text"', b"42", b"null", None]) for parser in PRODUCERS]
    + [
        ("logs", {}, [b'{"@timestamp":"2026-10-14T07:00:00Z"}', b'{"message":""}']),
        ("logs", {}, [b'{"message":"x"}', b'{"message":"x","@timestamp":"2026-10-14T07:00"}']),
        ("logs", {}, [b'{"message":"31 Feb 2026 10:00:00 (c) [] m","@timestamp":5}']),
        ("logs", {}, [b'{"message":5,"@timestamp":"2026-10-14T07:00:00Z"}']),
        (
            "logs",
            {"max_message_bytes": 20},
            [b'{"message":"x","@timestamp":"2026-10-14T07:00:00Z"}'],
        ),
        ("access", {}, [b'{"message":"level=INFO"}', b'{"message":"a=1 bad key=2"}']),
        ("access", {}, [b'{"message":"x=\\"open","@timestamp":"2026-10-14T07:00:00Z"}']),
        ("access", {}, [b'{"message":["a=1"],"@timestamp":"2026-10-14T07:00:00Z"}']),
        (
            "access",
            {},
            [b'{"message":"duration=123456789012345678901","@timestamp":"2026-10-14T07:00:00Z"}'],
        ),
        ("access", {"mandatory": (("host", "name"),)}, [b'{"message":"a=1","host":{"name":""}}']),
        ("poolinfo", {}, [b'{"pool":"p"}', b'{"@timestamp":"2026-10-14T07:00:00Z","pool":null}']),
        ("poolinfo", {}, [b'{"pool":"p","@timestamp":"2026-10-14T07:00:00"}']),
        ("poolinfo", {}, [b'{"pool":"p","@timestamp":"2026-10-14T07:00:00Z","mode":5}']),
    ]
)


@pytest.mark.parametrize(("parser", "route", "values"), BAD_MESSAGES)
def test_every_bad_message_is_left_to_python_which_dead_letters_it(
    parser: str, route: dict[str, Any], values: list[bytes | None]
) -> None:
    result = assert_identical(parser, values, **route)
    assert result.native_lines == 0
    assert result.deferred_dead == len(values)


@pytest.mark.parametrize("parser", PRODUCERS)
def test_the_envelope_options_are_identical(parser: str) -> None:
    values: list[bytes | None] = list(samples(parser))
    assert_identical(parser, values, original_max_bytes=100)  # cut inside `event.original`
    assert_identical(parser, values, deterministic_ids=False, instance=None)
    accented = [v.replace(b"e", b"\xc3\xa9", 3) for v in samples(parser)]
    assert_identical(parser, list(accented), original_max_bytes=33)


LOG_PIECES = [
    "\n",
    "\n\tat org.dcache.Foo(Foo.java:1)\n",
    ")",
    "(",
    "[",
    "]",
    " ",
    "\t",
    "\x1c",
    "é",
    "Sept",
    "Sep",
    "31 Feb 2026 10:00:00 (c) [] m",
    "14 Sept 2026 25:00:00 (c) [n] m",
    "14 Sep 2026 10:00:00 (c) [n] m",
    "14 Oct 0000 10:00:00 (c) [] m",
    "29 Feb 2024 23:59:59 (c) [] m",
    "Pool mode changed to enabled",
    "Pool mode changed to disabled(a,,b): r: s",
    "Pool mode changed to disabled()",
    "Pool p changed from mode a  to b.",
    "Pool p changed from mode a to .",
    "Pool p changed from mode a to b..",
    "Pool p changed from mode a\tto b.",
    "Pool p declared as DOWN: gone.",
    "Pool p declared as DOWN: ",
    "Pool: p, fault occurred in repo: bad. Pool read-only: ",
    "Pool: p, fault occurred in repo: bad. Pool disabled:",
    "Pool: p, fault occurred in re:po: bad. Pool restart required:  ",
    "Pool: p, fault occurred in repo. Pool disabled:",
    "Pool é declared as DOWN: x",
    "Pool\u00a0p declared as DOWN: x",
    "14 Oct 2026 10:10:00 (pool) [] Pool p declared as DOWN: x.",
    "14 Oct 2026 10:10:00 (pool) [] Pool: p, fault occurred in x: y. Pool disabled: ",
]
ACCESS_PIECES = [
    " ",
    "=",
    '"',
    "\\",
    '\\"',
    '"\\é"',
    "ts=2026-10-14T09:14:22.901+0200",
    "ts=bad",
    "ts=",
    "duration=0012",
    "duration=18446744073709551616",
    "response.code=abc",
    "response.code=٣",
    "request.url=https://[::1]:80/p?q#f",
    "request.url=//host/path?x",
    "request.url=mailto:x",
    "request.url=/just/path?x#y",
    "request.url=1http:x/y",
    'request.url="https://h/a b"',
    "request.url=https://h?x/y",
    "request.url=https://hé/p",
    "request=open",
    "request.method=",
    "socket.remote=10.0.0.1:80",
    "socket.remote=[::1]:65536",
    "socket.remote=[::1]:080",
    'user-agent="a \\"b\\""',
    "a.b=1 a=2 a.b.c=3",
    "a=1 a.b=2",
    "é=1",
    'x="unterminated',
    "level=",
    "event=",
    "a..b=1",
    'x="a\\nb\\rc\\\\d\\qe"',
    'x="a"b=2',
]
POOLINFO_KEYS = [
    "pool",
    "@timestamp",
    "mode",
    "host",
    "domain",
    "space_total",
    "space_free",
    "groups",
    "status_code",
    "enabled",
    "missing",
    "last_modified",
    "space",
]
FILEBEAT_KEYS = ["message", "@timestamp", "host", "log", "syslog", "systemd"]


def texts(parser: str) -> Callable[[random.Random], str]:
    """Odd `message` texts for the fuzz: real ones cut and spliced with the parser's edges (a
    pool snapshot has no `message`; it gets pool-state texts, which it must carry unread)."""
    real = [str(orjson.loads(v).get("message", "")) for v in samples(parser)]
    pieces = ACCESS_PIECES if parser == "access" else LOG_PIECES
    return lambda rng: mutated_text(rng, real or pieces, pieces)


@pytest.mark.parametrize("parser", PRODUCERS)
def test_a_fuzz_corpus_of_mutated_real_messages_is_identical_or_deferred(parser: str) -> None:
    real = samples(parser) + simulated(parser, 2000, seed=3)
    keys = POOLINFO_KEYS if parser == "poolinfo" else FILEBEAT_KEYS
    corpus = fuzz_corpus(real, 20_000, 15, keys, texts(parser))
    result = assert_identical(parser, corpus)
    assert result.native_lines > len(corpus) // 5  # the fuzz reaches the native path
    assert_identical(parser, corpus, original_max_bytes=64, deterministic_ids=False)


def test_the_encoder_sends_every_producer_of_a_mixed_batch_through_its_native_function() -> None:
    parsers = ["billing", *PRODUCERS]
    routes = {f"dcache-{p}": producer_route(p, zone="Europe/Berlin") for p in parsers}
    messages = [m for p in parsers for m in as_messages(samples(p), topic=f"dcache-{p}")]
    rng = random.Random(4)
    rng.shuffle(messages)
    encoder = Encoder(NATIVE)
    native = encoder.items(messages, routes, TARGET, INGESTED)
    python = Encoder().items(messages, routes, TARGET, INGESTED)
    assert [i.message for i in native] == messages
    assert [i.line for i in native] == [i.line for i in python]
    assert (encoder.native_items, encoder.deferred) == (len(messages), 0)
