"""Counters and the one-line stats an operator greps for."""

from __future__ import annotations

import time
from dataclasses import dataclass, field


@dataclass
class Stats:
    started: float = field(default_factory=time.monotonic)
    consumed: int = 0
    indexed: int = 0
    dead_letters: int = 0
    duplicates: int = 0
    retried: int = 0
    collisions: int = 0
    committed_batches: int = 0
    _last_time: float = field(default_factory=time.monotonic)
    _last_consumed: int = 0
    _last_settled: int = 0

    @property
    def settled(self) -> int:
        return self.indexed + self.dead_letters

    def interval_line(self, lag: int | None) -> str:
        """Rates since the previous line, totals since start."""
        now = time.monotonic()
        span = max(now - self._last_time, 1e-9)
        msg_rate = (self.consumed - self._last_consumed) / span
        doc_rate = (self.settled - self._last_settled) / span
        self._last_time, self._last_consumed, self._last_settled = now, self.consumed, self.settled
        return (
            f"stats msgs_per_s={msg_rate:.1f} docs_per_s={doc_rate:.1f} consumed={self.consumed} "
            f"indexed={self.indexed} dead_letters={self.dead_letters} "
            f"duplicates={self.duplicates} collisions={self.collisions} "
            f"retried={self.retried} lag={'unknown' if lag is None else lag}"
        )

    def summary_line(self) -> str:
        elapsed = max(time.monotonic() - self.started, 1e-9)
        return (
            f"summary elapsed_s={elapsed:.1f} consumed={self.consumed} indexed={self.indexed} "
            f"dead_letters={self.dead_letters} duplicates={self.duplicates} "
            f"collisions={self.collisions} retried={self.retried} "
            f"docs_per_s={self.settled / elapsed:.1f}"
        )
