"""Cycles on a fixed schedule: the n-th cycle starts at first + n * interval, whatever the
cycles before it took, so snapshots stay on the quarter hours they started on (no drift). A
cycle that overruns its slot makes the next ones wait for the next free slot; missed slots
are skipped, never run in a burst.

The clock, the wall clock and the wait are parameters so the schedule is tested with a fake.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime

log = logging.getLogger("esbridge.poll")


def next_slot(first: float, interval: float, now: float) -> float:
    """The first slot `first + k * interval` (k >= 1) that is later than `now`."""
    k = max(1, math.floor((now - first) / interval) + 1)
    return first + k * interval


def run_forever(
    cycle: Callable[[datetime], object],
    interval: float,
    stop: threading.Event,
    *,
    monotonic: Callable[[], float] = time.monotonic,
    wall: Callable[[], datetime] = lambda: datetime.now(UTC),
    wait: Callable[[float], bool] | None = None,
) -> int:
    """Runs `cycle(now)` at every slot until `stop` is set; returns the number of cycles.

    `wait(seconds)` returns True when woken by the stop (`stop.wait` by default), so SIGTERM
    ends a wait at once.
    """
    sleep = wait or stop.wait
    first = monotonic()
    slot = first
    cycles = 0
    while not stop.is_set():
        cycle(wall())
        cycles += 1
        now = monotonic()
        following = next_slot(first, interval, now)
        skipped = round((following - slot) / interval) - 1
        if skipped > 0:
            log.warning(
                "the cycle took %.1fs, longer than poll.interval %gs: skipping %d slot(s)",
                now - slot,
                interval,
                skipped,
            )
        slot = following
        if sleep(max(0.0, slot - monotonic())):
            break
    return cycles
