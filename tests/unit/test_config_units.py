"""The size and duration parsers behind every `*_bytes`, `*_interval`, `*_backoff` key."""

from __future__ import annotations

import math

import pytest

from esbridge.config import parse_duration, parse_size


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (0, 0),
        (65536, 65536),
        ("65536", 65536),
        ("10b", 10),
        ("512kb", 512 * 1024),
        ("10mb", 10 * 1024**2),
        ("10MB", 10 * 1024**2),
        ("1gb", 1024**3),
        ("2tb", 2 * 1024**4),
        ("1.5gb", 3 * 1024**3 // 2),
        (" 16 kb ", 16 * 1024),
    ],
)
def test_parse_size_gives_bytes_with_binary_units(text: object, expected: int) -> None:
    assert parse_size(text) == expected


@pytest.mark.parametrize(
    "bad",
    ["", "mb", "10zb", "10 m b", "-1kb", "1e6", "0.5b", True, 1.5, None, [1], -1],
)
def test_parse_size_rejects_anything_else(bad: object) -> None:
    with pytest.raises(ValueError, match="size"):
        parse_size(bad)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (0, 0.0),
        (30, 30.0),
        (0.25, 0.25),
        ("45", 45.0),
        ("500ms", 0.5),
        ("1s", 1.0),
        ("0.5s", 0.5),
        ("2m", 120.0),
        ("1h", 3600.0),
        ("1d", 86400.0),
    ],
)
def test_parse_duration_gives_seconds(text: object, expected: float) -> None:
    assert parse_duration(text) == pytest.approx(expected)
    assert isinstance(parse_duration(text), float)


@pytest.mark.parametrize(
    "bad",
    ["", "s", "1M", "1S", "1w", "-1s", "1 second", True, None, -0.5, math.inf, math.nan],
)
def test_parse_duration_rejects_anything_else(bad: object) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_duration(bad)


def test_parser_errors_do_not_repeat_the_input() -> None:
    for parse in (parse_size, parse_duration):
        with pytest.raises(ValueError) as caught:
            parse("hunter2-secret")
        assert "hunter2" not in str(caught.value)
