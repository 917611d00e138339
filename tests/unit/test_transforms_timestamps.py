"""Date and duration helpers: every form dCache writes, and refusals that name the bad value."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from esbridge.transforms import ParseError, timestamps
from esbridge.transforms.timestamps import (
    iso_duration_ms,
    parse_iso_timestamp,
    parse_log_timestamp,
)
from esbridge.utc import format_utc

BERLIN = ZoneInfo("Europe/Berlin")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2026-10-14T09:12:03+02:00", "2026-10-14T07:12:03.000Z"),
        ("2026-10-14T09:12:03.+02:00", "2026-10-14T07:12:03.000Z"),
        ("2026-10-14T09:12:03.4+02:00", "2026-10-14T07:12:03.400Z"),
        ("2026-10-14T09:12:03.41+02:00", "2026-10-14T07:12:03.410Z"),
        ("2026-10-14T09:12:03.412+02:00", "2026-10-14T07:12:03.412Z"),
        ("2026-10-14T09:12:03.123456789+02:00", "2026-10-14T07:12:03.123Z"),
    ],
)
def test_iso_timestamp_takes_any_fraction_length(value: str, expected: str) -> None:
    assert parse_iso_timestamp(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2026-10-14T07:12:04Z", "2026-10-14T07:12:04.000Z"),
        ("2026-10-14T07:12:04.5Z", "2026-10-14T07:12:04.500Z"),
        ("2026-10-14T09:14:22.901+0200", "2026-10-14T07:14:22.901Z"),
        ("2026-10-14T02:12:48-05:00", "2026-10-14T07:12:48.000Z"),
        ("2026-12-31T22:30:00.25-05:00", "2027-01-01T03:30:00.250Z"),
        ("2026-10-14T07:12:04+00:00", "2026-10-14T07:12:04.000Z"),
    ],
)
def test_iso_timestamp_converts_every_offset_form_to_utc(value: str, expected: str) -> None:
    assert parse_iso_timestamp(value) == expected


SAME_MINUTE_MIX = [
    "2026-10-14T09:12:03.41+02:00",
    "2026-10-14T09:12:59.999+02:00",
    "2026-10-14T09:12:00+02:00",
    "2026-10-14T09:12:03.41-05:00",
    "2026-10-14T09:12:03.41+05:30",
    "2026-10-14T09:12:03.41Z",
    "2026-10-14 09:12:03.41Z",
    "2026-W42-3T09:12:03.41Z",
    "20261014T091203.41Z",
    "2026-10-14T09:12:03.41+02:00:30",
    "2026-10-14T09:12:04.5+02:00:30.5",
]


def test_iso_timestamps_of_one_minute_agree_with_a_full_conversion() -> None:
    full = [format_utc(datetime.fromisoformat(value)) for value in SAME_MINUTE_MIX]
    assert [parse_iso_timestamp(value) for value in SAME_MINUTE_MIX * 2] == full * 2
    assert full[9:] == ["2026-10-14T07:11:33.410Z", "2026-10-14T07:11:34.000Z"]


def test_iso_timestamp_minute_cache_stays_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(timestamps, "_UTC_MINUTES", {})
    monkeypatch.setattr(timestamps, "_UTC_MINUTES_MAX", 2)
    values = [f"2026-10-14T09:{minute:02d}:03+02:00" for minute in range(5)]
    assert [parse_iso_timestamp(value) for value in values] == [
        f"2026-10-14T07:{minute:02d}:03.000Z" for minute in range(5)
    ]
    remembered = timestamps._UTC_MINUTES
    assert remembered == {("2026-10-14T09:04", timezone(timedelta(hours=2))): "2026-10-14T07:04"}


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("2026-10-14T09:12:03", "no UTC offset: '2026-10-14T09:12:03'"),
        ("14 Oct 2026 09:12:03", "not an ISO-8601 timestamp: '14 Oct 2026 09:12:03'"),
        ("2026-13-14T09:12:03Z", "not an ISO-8601 timestamp: '2026-13-14T09:12:03Z'"),
        ("", "not an ISO-8601 timestamp: ''"),
        (1760425923, "not an ISO-8601 timestamp: 1760425923"),
        ("0001-01-01T00:30:00+01:00", "out of range: '0001-01-01T00:30:00+01:00'"),
    ],
)
def test_iso_timestamp_refusal_names_the_value(value: str, reason: str) -> None:
    with pytest.raises(ParseError) as caught:
        parse_iso_timestamp(value)
    assert caught.value.error_type == "bad_timestamp"
    assert caught.value.reason.endswith(reason)


def test_log_timestamp_is_read_in_the_configured_zone() -> None:
    assert parse_log_timestamp("14 Oct 2026 09:49:55", BERLIN) == "2026-10-14T07:49:55.000Z"
    assert parse_log_timestamp("14 Dec 2026 09:49:55", BERLIN) == "2026-12-14T08:49:55.000Z"
    assert parse_log_timestamp("14 Oct 2026 09:49:55", ZoneInfo("UTC")) == (
        "2026-10-14T09:49:55.000Z"
    )


def test_log_timestamp_repeated_hour_at_dst_end_is_the_first_occurrence() -> None:
    # 25 Oct 2026: Berlin goes from 03:00 CEST back to 02:00 CET; 02:30 happens twice.
    assert parse_log_timestamp("25 Oct 2026 02:30:00", BERLIN) == "2026-10-25T00:30:00.000Z"
    assert parse_log_timestamp("25 Oct 2026 03:00:00", BERLIN) == "2026-10-25T02:00:00.000Z"


def test_log_timestamp_skipped_hour_at_dst_start_uses_the_offset_before() -> None:
    # 29 Mar 2026: Berlin jumps from 02:00 CET to 03:00 CEST; 02:30 never happens.
    assert parse_log_timestamp("29 Mar 2026 02:30:00", BERLIN) == "2026-03-29T01:30:00.000Z"
    assert parse_log_timestamp("29 Mar 2026 03:00:00", BERLIN) == "2026-03-29T01:00:00.000Z"


def test_log_timestamp_takes_javas_en_gb_sept() -> None:
    assert parse_log_timestamp("14 Sept 2026 09:49:55", BERLIN) == "2026-09-14T07:49:55.000Z"
    assert parse_log_timestamp("14 Sep 2026 09:49:55", BERLIN) == "2026-09-14T07:49:55.000Z"


@pytest.mark.parametrize(
    "value", ["31 Feb 2026 09:49:55", "14 Okt 2026 09:49:55", "14 Oct 2026 25:00:00", "14 Oct"]
)
def test_log_timestamp_refusal_names_the_value(value: str) -> None:
    with pytest.raises(ParseError) as caught:
        parse_log_timestamp(value, BERLIN)
    assert caught.value.error_type == "bad_timestamp"
    assert repr(value) in caught.value.reason


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("PT0.0764S", 76.4),
        ("PT299.1S", 299_100.0),
        ("PT0S", 0.0),
        ("PT0.000000001S", 0.000001),
        ("PT4M59.1S", 299_100.0),
        ("PT1H2M3.5S", 3_723_500.0),
        ("PT1.5H", 5_400_000.0),
        ("P2D", 172_800_000.0),
        ("P1DT1S", 86_401_000.0),
        ("PT-0.5S", -500.0),
        ("PT-1M-30S", -90_000.0),
        ("-PT1S", -1000.0),
    ],
)
def test_iso_duration_in_milliseconds(value: str, expected: float) -> None:
    assert iso_duration_ms(value) == expected


@pytest.mark.parametrize("value", ["P", "PT", "P1DT", "1S", "PTinfS", "PT1S ", "PT1.S", 12])
def test_iso_duration_refusal_names_the_value(value: str) -> None:
    with pytest.raises(ParseError) as caught:
        iso_duration_ms(value)
    assert caught.value.error_type == "parse_error"
    assert caught.value.reason == f"not an ISO-8601 duration: {value!r}"
