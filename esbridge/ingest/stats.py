"""Counters and the one-line stats an operator greps for.

The lines tell the truth during trouble: retries are counted when they are decided (by the
sender threads, through `SendCounters`), not when their batch finally settles; replays (409
with the same content hash) are counted apart from documents indexed; the lag is the broker's
end offsets minus what is committed; rates are over the interval, and the summary's over the
busy time (first message read to last batch settled), not over idle time.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

Fields = dict[str, int | float | str]


class SendCounters:
    """What the sender threads report as it happens; read (and drained) by the main thread."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.retries: dict[str, int] = {}
        self.durations: list[float] = []

    def retry(self, cause: str, count: int = 1) -> None:
        with self.lock:
            self.retries[cause] = self.retries.get(cause, 0) + count

    def request(self, seconds: float) -> None:
        with self.lock:
            self.durations.append(seconds)

    def retried(self) -> int:
        with self.lock:
            return sum(self.retries.values())

    def snapshot(self) -> dict[str, int]:
        """Retries by cause since start."""
        with self.lock:
            return dict(self.retries)

    def drain(self) -> list[float]:
        """Request durations since the last drain."""
        with self.lock:
            durations, self.durations = self.durations, []
        return durations


@dataclass
class Stats:
    clock: Callable[[], float] = time.monotonic
    consumed: int = 0
    indexed: int = 0
    dead_letters: int = 0
    replays: int = 0
    collisions: int = 0
    committed_batches: int = 0
    retries: SendCounters = field(default_factory=SendCounters)
    first_message: float | None = None
    last_settled: float | None = None
    _last_time: float = 0.0
    _last_consumed: int = 0
    _last_settled: int = 0

    def __post_init__(self) -> None:
        self.started = self._last_time = self.clock()

    @property
    def settled(self) -> int:
        return self.indexed + self.dead_letters + self.replays

    @property
    def retried(self) -> int:
        return self.retries.retried()

    def read(self, count: int) -> None:
        if count and self.first_message is None:
            self.first_message = self.clock()
        self.consumed += count

    def count(self, indexed: int, dead_letters: int, replays: int, collisions: int) -> None:
        self.indexed += indexed
        self.dead_letters += dead_letters
        self.replays += replays
        self.collisions += collisions
        self.committed_batches += 1
        self.last_settled = self.clock()

    def totals(self) -> Fields:
        return {
            "consumed": self.consumed,
            "indexed": self.indexed,
            "replays": self.replays,
            "dead_letters": self.dead_letters,
            "collisions": self.collisions,
            "retried": self.retried,
        }

    def interval(self, lag: int | None) -> tuple[str, Fields]:
        """The stats line and its fields: rates since the previous line, totals since start."""
        now = self.clock()
        span = max(now - self._last_time, 1e-9)
        fields: Fields = {
            "msgs_per_s": round((self.consumed - self._last_consumed) / span, 1),
            "docs_per_s": round((self.settled - self._last_settled) / span, 1),
            **self.totals(),
            "lag": "unknown" if lag is None else lag,
        }
        self._last_time, self._last_consumed, self._last_settled = now, self.consumed, self.settled
        return "stats " + as_text(fields), fields

    def summary(self) -> tuple[str, Fields]:
        """The last line: totals, and the rate over the busy time (first message read to last
        batch settled), so time spent waiting for messages does not dilute it."""
        elapsed = self.clock() - self.started
        busy = 0.0
        if self.first_message is not None and self.last_settled is not None:
            busy = max(self.last_settled - self.first_message, 0.0)
        rate = self.settled / busy if busy > 0 else 0.0
        fields: Fields = {
            "elapsed_s": round(elapsed, 1),
            "busy_s": round(busy, 1),
            **self.totals(),
            "docs_per_busy_s": round(rate, 1),
        }
        return "summary " + as_text(fields), fields


def as_text(fields: Fields) -> str:
    return " ".join(
        f"{key}={value:.1f}" if isinstance(value, float) else f"{key}={value}"
        for key, value in fields.items()
    )
