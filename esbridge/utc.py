"""The one place that writes and reads UTC instants, so every document and message spells
time the same way: ISO-8601 with a `Z`, never `+00:00`, never naive."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal

Precision = Literal["milliseconds", "microseconds"]


def format_utc(moment: datetime, timespec: Precision = "milliseconds") -> str:
    """An aware datetime as `yyyy-MM-ddTHH:mm:ss.SSSZ` (or `.SSSSSSZ`), fraction truncated.

    Raises ValueError for a naive datetime: its zone would be a guess.
    """
    if moment.tzinfo is None:
        raise ValueError("a time without a UTC offset")
    return moment.astimezone(UTC).isoformat(timespec=timespec)[:-6] + "Z"


def now_utc() -> str:
    """The current time, as `format_utc` writes it (milliseconds)."""
    return format_utc(datetime.now(UTC))


def parse_utc(text: str) -> datetime:
    """ISO-8601 text with an offset, as an aware UTC datetime; ValueError for a naive one."""
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        raise ValueError(f"a time without a UTC offset: {text!r}")
    return moment.astimezone(UTC)
