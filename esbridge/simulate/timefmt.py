"""Timestamps in the layouts each stream uses, from epoch seconds, cheaply.

Every layout rounds to the millisecond first, so that a domain-log line and its Filebeat
`@timestamp` always name the same second. Billing needs one date per message, so
`ZonedClock.iso` caches the per-second prefix, and the zone offset per hour (DST moves only on
whole UTC hours in the zones the site uses).
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
# Java's ISO formatter drops trailing zeros of the fraction, and the fraction itself when zero.
FRACTIONS = tuple("" if ms == 0 else f".{ms:03d}".rstrip("0") for ms in range(1000))


def utc_ms(t: float) -> str:
    """Filebeat's `@timestamp`: UTC, always milliseconds."""
    ms = round(t * 1000)
    g = time.gmtime(ms // 1000)
    return (
        f"{g.tm_year:04d}-{g.tm_mon:02d}-{g.tm_mday:02d}T"
        f"{g.tm_hour:02d}:{g.tm_min:02d}:{g.tm_sec:02d}.{ms % 1000:03d}Z"
    )


def utc_seconds(t: float) -> str:
    """A poller's `@timestamp`: UTC, whole seconds."""
    g = time.gmtime(round(t * 1000) // 1000)
    return (
        f"{g.tm_year:04d}-{g.tm_mon:02d}-{g.tm_mday:02d}T"
        f"{g.tm_hour:02d}:{g.tm_min:02d}:{g.tm_sec:02d}Z"
    )


def to_datetime(t: float) -> datetime:
    return datetime.fromtimestamp(t, UTC)


class ZonedClock:
    """Local time of one zone in the layouts of billing, access logs and domain logs."""

    def __init__(self, zone: str) -> None:
        self._zone = ZoneInfo(zone)
        self._hour = -1
        self._offset = 0
        self._suffix = "Z"
        self._second = -1
        self._prefix = ""

    def offset(self, second: int) -> int:
        """The zone's UTC offset in seconds at epoch `second`."""
        hour = second // 3600
        if hour != self._hour:
            delta = datetime.fromtimestamp(hour * 3600, self._zone).utcoffset()
            self._offset = int(delta.total_seconds()) if delta is not None else 0
            self._hour = hour
            if self._offset == 0:
                self._suffix = "Z"
            else:
                sign = "+" if self._offset > 0 else "-"
                hours, minutes = divmod(abs(self._offset) // 60, 60)
                self._suffix = f"{sign}{hours:02d}:{minutes:02d}"
        return self._offset

    def iso(self, t: float) -> str:
        """Billing `date`: `2026-10-14T09:12:03.41+02:00`, fraction with 0-3 digits, `Z` at UTC."""
        ms = round(t * 1000)
        second = ms // 1000
        offset = self.offset(second)
        if second != self._second:
            g = time.gmtime(second + offset)
            self._prefix = (
                f"{g.tm_year:04d}-{g.tm_mon:02d}-{g.tm_mday:02d}T"
                f"{g.tm_hour:02d}:{g.tm_min:02d}:{g.tm_sec:02d}"
            )
            self._second = second
        return self._prefix + FRACTIONS[ms % 1000] + self._suffix

    def access(self, t: float) -> str:
        """Access-log `ts`: `2026-10-14T09:14:22.901+0200`, always milliseconds, no colon."""
        ms = round(t * 1000)
        offset = self.offset(ms // 1000)
        g = time.gmtime(ms // 1000 + offset)
        sign = "+" if offset >= 0 else "-"
        hours, minutes = divmod(abs(offset) // 60, 60)
        return (
            f"{g.tm_year:04d}-{g.tm_mon:02d}-{g.tm_mday:02d}T{g.tm_hour:02d}:{g.tm_min:02d}:"
            f"{g.tm_sec:02d}.{ms % 1000:03d}{sign}{hours:02d}{minutes:02d}"
        )

    def log(self, t: float) -> str:
        """Domain-log time: `14 Oct 2026 09:49:55`, local, no zone, no milliseconds."""
        second = round(t * 1000) // 1000
        g = time.gmtime(second + self.offset(second))
        return (
            f"{g.tm_mday:02d} {MONTHS[g.tm_mon - 1]} {g.tm_year:04d} "
            f"{g.tm_hour:02d}:{g.tm_min:02d}:{g.tm_sec:02d}"
        )
