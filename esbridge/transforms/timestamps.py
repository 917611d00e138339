"""Date and duration helpers shared by the parsers.

Every `@timestamp` leaves here as UTC text with exactly three fraction digits and a `Z`, so the
index sees one format whatever the producer sent. Python 3.11's `datetime.fromisoformat` already
accepts every form dCache writes (0-9 fraction digits, `Z`, `+hh:mm`, `+hhmm`); the unit tests
pin those forms so that a change in a later Python shows up there and not in production.

Converting and formatting costs three times what parsing does, and it is the biggest single cost
of a billing record; but a whole-minute offset leaves seconds alone, so records of the same
minute share one conversion (`_UTC_MINUTES`) and only their seconds and milliseconds are copied.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, tzinfo
from zoneinfo import ZoneInfo

from esbridge.transforms.base import ParseError
from esbridge.utc import format_utc

_MONTHS = {
    "Jan": 1,
    "Feb": 2,
    "Mar": 3,
    "Apr": 4,
    "May": 5,
    "Jun": 6,
    "Jul": 7,
    "Aug": 8,
    "Sep": 9,
    "Sept": 9,  # Java 16+ with CLDR writes "Sept" for some English locales (en_GB)
    "Oct": 10,
    "Nov": 11,
    "Dec": 12,
}

_UTC_MINUTES: dict[tuple[str, tzinfo], str] = {}  # (local yyyy-MM-ddTHH:mm, offset) -> UTC
_UTC_MINUTES_MAX = 4096
_WHOLE_MINUTE = timedelta(minutes=1)
_TWO_DIGITS = [f"{n:02d}" for n in range(60)]
_THREE_DIGITS = [f"{n:03d}" for n in range(1000)]

_SECONDS_ONLY = re.compile(r"PT(-?\d+(?:\.\d+)?)S", re.ASCII)  # what dCache writes: a fast path
DURATION_PATTERN = re.compile(
    r"(?P<sign>[-+])?P(?:(?P<days>\d+)D)?"
    r"(?:T(?:(?P<hours>-?\d+(?:\.\d+)?)H)?(?:(?P<minutes>-?\d+(?:\.\d+)?)M)?"
    r"(?:(?P<seconds>-?\d+(?:\.\d+)?)S)?)?",
    re.ASCII,
)


def parse_iso_timestamp(value: str) -> str:
    """ISO-8601 with a UTC offset -> UTC text; a time without offset is refused, not guessed."""
    try:
        moment = datetime.fromisoformat(value)
    except (ValueError, TypeError):
        raise ParseError("bad_timestamp", f"not an ISO-8601 timestamp: {value!r}") from None
    if moment.tzinfo is None:
        raise ParseError("bad_timestamp", f"timestamp has no UTC offset: {value!r}")
    key = (value[:16], moment.tzinfo)
    minute = _UTC_MINUTES.get(key)
    if minute is None:
        return _convert_and_remember(value, moment, key)
    return f"{minute}:{_TWO_DIGITS[moment.second]}.{_THREE_DIGITS[moment.microsecond // 1000]}Z"


def _convert_and_remember(value: str, moment: datetime, key: tuple[str, tzinfo]) -> str:
    """The full conversion; its UTC minute is kept when `value[:16]` is `yyyy-MM-ddTHH:mm` and
    the offset is whole minutes (`+02:00:30` would shift the seconds too)."""
    try:
        text = format_utc(moment)
    except OverflowError:
        raise ParseError("bad_timestamp", f"timestamp out of range: {value!r}") from None
    offset = moment.utcoffset()
    extended = value[4:5] == value[7:8] == "-" and value[13:14] == ":"
    if extended and offset is not None and not offset % _WHOLE_MINUTE:
        if len(_UTC_MINUTES) >= _UTC_MINUTES_MAX:
            _UTC_MINUTES.clear()
        _UTC_MINUTES[key] = text[:16]
    return text


def parse_log_timestamp(value: str, tz: ZoneInfo) -> str:
    """`dd MMM yyyy HH:mm:ss` (dCache's log layout, no zone) read in `tz` -> UTC text.

    A wall time that occurs twice when clocks go back is taken as its first occurrence (fold=0);
    one skipped when clocks go forward is read with the offset before the change.
    """
    try:
        day, month, year, clock = value.split(" ")
        hour, minute, second = clock.split(":")
        local = datetime(
            int(year), _MONTHS[month], int(day), int(hour), int(minute), int(second), tzinfo=tz
        )
        return format_utc(local)
    except (ValueError, KeyError, OverflowError):
        raise ParseError(
            "bad_timestamp", f"not a 'dd MMM yyyy HH:mm:ss' log date: {value!r}"
        ) from None


def iso_duration_ms(value: str) -> float:
    """ISO-8601 duration (`PT0.0764S`, Java's `PT-1M-30S`, `P1DT2H`) -> milliseconds.

    Rounded to nanoseconds (Java's resolution), so `PT0.0764S` gives 76.4 and not the
    76.39999999999999 of a bare float multiplication.
    """
    try:
        match = _SECONDS_ONLY.fullmatch(value)
        if match is not None:
            return round(float(match[1]) * 1000.0, 6)
        match = DURATION_PATTERN.fullmatch(value)
    except TypeError:
        match = None
    if match is None or value.endswith(("P", "T")):
        raise ParseError("parse_error", f"not an ISO-8601 duration: {value!r}")
    sign, days, hours, minutes, seconds = match.groups()
    total = float(seconds) * 1000.0 if seconds else 0.0
    if minutes:
        total += float(minutes) * 60_000.0
    if hours:
        total += float(hours) * 3_600_000.0
    if days:
        total += float(days) * 86_400_000.0
    return round(-total if sign == "-" else total, 6)
