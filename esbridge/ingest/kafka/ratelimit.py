"""Repeated log lines, rate-limited: the first of a kind is logged, then at most one line per
interval, carrying the count of those held back.

A Kafka client that cannot reach or log in to its brokers logs the same failure several times a
second (561 ERROR lines in 29 s were seen with Kafka down). An operator needs the first line and
a count; a journal full of copies hides everything else. A broker that goes away also makes a
client log a burst of different complaints at once (11 from kafka-python, 6 from librdkafka:
lost connections, a failed heartbeat, a failed metadata refresh), each a kind of its own, so
the kinds share a budget of `BURST` lines per interval too.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass

REPEAT_INTERVAL = 30.0
"""Seconds between two lines of the same kind."""

MAX_KINDS = 1000
"""Kinds remembered at once; beyond that the ones quiet for an interval are forgotten."""


@dataclass(frozen=True)
class Admission:
    """A line that may go out: `held` like it were held back in the `seconds` since the last."""

    held: int
    seconds: float


@dataclass
class _Kind:
    emitted: float
    held: int = 0


class RateLimiter:
    """Admits the first occurrence of each key, then one per `interval`; thread-safe."""

    def __init__(self, interval: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.interval = interval
        self.clock = clock
        self.kinds: dict[Hashable, _Kind] = {}
        self.lock = threading.Lock()

    def admit(self, key: Hashable) -> Admission | None:
        """An `Admission` when this occurrence should be logged, None when it is held back."""
        now = self.clock()
        with self.lock:
            kind = self.kinds.get(key)
            if kind is None:
                self.forget_quiet(now)
                self.kinds[key] = _Kind(now)
                return Admission(0, 0.0)
            if now - kind.emitted < self.interval:
                kind.held += 1
                return None
            admitted = Admission(kind.held, now - kind.emitted)
            kind.emitted, kind.held = now, 0
            return admitted

    def forget_quiet(self, now: float) -> None:
        if len(self.kinds) >= MAX_KINDS:
            self.kinds = {k: v for k, v in self.kinds.items() if now - v.emitted < self.interval}


BURST = 3
"""Client lines of any kind let through per interval; the next line let through counts the
ones held back for it. esbridge's own one-line error about Kafka is not a client line."""

_NUMBERS = re.compile(r"\d+(\.\d+)?")

CLIENT_LOGGERS = ("kafka", "esbridge.librdkafka")
"""kafka-python's loggers and the one librdkafka logs to (`ingest/kafka/confluent.py`)."""


class RepeatFilter(logging.Filter):
    """A handler filter that rate-limits the warnings and errors of the Kafka clients.

    Lines count as alike when they differ only in numbers (back-off times, "after 326ms", ports
    of the same text), per logger and level; at most `burst` of them, of any kind, per interval.
    Other loggers pass untouched.
    """

    def __init__(
        self,
        interval: float = REPEAT_INTERVAL,
        loggers: tuple[str, ...] = CLIENT_LOGGERS,
        clock: Callable[[], float] = time.monotonic,
        burst: int = BURST,
    ) -> None:
        super().__init__()
        self.limiter = RateLimiter(interval, clock)
        self.loggers = loggers
        self.burst = burst
        self.window_start: float | None = None
        self.window_lines = 0
        self.crowded = 0
        """Lines of other kinds held back by the budget since the last line let through."""
        self.lock = threading.Lock()

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.WARNING or not self.applies(record.name):
            return True
        message = record.getMessage()
        admitted = self.limiter.admit((record.name, record.levelno, _NUMBERS.sub("#", message)))
        if admitted is None:
            return False
        crowded = self.take_budget()
        if crowded is None:
            return False
        notes = []
        if admitted.held:
            notes.append(f"{admitted.held} more like this in the last {admitted.seconds:.0f}s")
        if crowded:
            notes.append(f"{crowded} other Kafka client lines held back")
        if notes:
            record.msg = f"{message} ({'; '.join(notes)})"
            record.args = None
        return True

    def take_budget(self) -> int | None:
        """None when this interval's `burst` lines are used up (the line is counted as held
        back); else the number held back since the last line let through."""
        now = self.limiter.clock()
        with self.lock:
            if self.window_start is None or now - self.window_start >= self.limiter.interval:
                self.window_start, self.window_lines = now, 0
            if self.window_lines >= self.burst:
                self.crowded += 1
                return None
            self.window_lines += 1
            crowded, self.crowded = self.crowded, 0
            return crowded

    def applies(self, name: str) -> bool:
        return any(name == logger or name.startswith(f"{logger}.") for logger in self.loggers)
