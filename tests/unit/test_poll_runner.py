"""The poll schedule with a fake clock: no drift, missed slots skipped, a stop ends the wait."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest

from esbridge.poll.runner import next_slot, run_forever

EPOCH = datetime(2026, 10, 14, 8, 0, tzinfo=UTC)


class FakeClock:
    """Monotonic seconds that move only when a cycle takes time or the runner waits."""

    def __init__(self, durations: list[float], stop: threading.Event, cycles: int) -> None:
        self.now = 1000.0
        self.durations = durations
        self.stop = stop
        self.cycles = cycles
        self.started: list[float] = []
        self.stamps: list[datetime] = []
        self.waits: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def wall(self) -> datetime:
        return EPOCH + timedelta(seconds=self.now - 1000.0)

    def cycle(self, at: datetime) -> None:
        self.started.append(self.now - 1000.0)
        self.stamps.append(at)
        self.now += self.durations[len(self.started) - 1]
        if len(self.started) == self.cycles:
            self.stop.set()

    def wait(self, seconds: float) -> bool:
        self.waits.append(seconds)
        self.now += seconds
        return self.stop.is_set()


def run(durations: list[float], interval: float = 900.0) -> FakeClock:
    stop = threading.Event()
    clock = FakeClock(durations, stop, len(durations))
    run_forever(
        clock.cycle, interval, stop, monotonic=clock.monotonic, wall=clock.wall, wait=clock.wait
    )
    return clock


def test_cycles_start_on_the_interval_whatever_each_took() -> None:
    clock = run([12.5, 300.0, 0.2, 899.0])

    assert clock.started == [0.0, 900.0, 1800.0, 2700.0]
    assert clock.waits[:3] == pytest.approx([887.5, 600.0, 899.8])


def test_an_overrunning_cycle_skips_the_missed_slots_instead_of_bursting() -> None:
    clock = run([10.0, 2000.0, 10.0, 10.0])

    assert clock.started == [0.0, 900.0, 3600.0, 4500.0]


def test_each_cycle_gets_the_wall_time_of_its_start() -> None:
    clock = run([1.0, 1.0])

    assert clock.stamps == [EPOCH, EPOCH + timedelta(seconds=900)]


def test_a_stop_during_the_wait_ends_the_run_without_another_cycle() -> None:
    stop = threading.Event()
    cycles: list[datetime] = []

    def wait(_seconds: float) -> bool:
        stop.set()
        return True

    count = run_forever(cycles.append, 900.0, stop, wait=wait)

    assert count == 1 and len(cycles) == 1


def test_a_stop_before_the_first_cycle_runs_nothing() -> None:
    stop = threading.Event()
    stop.set()
    cycles: list[datetime] = []

    assert run_forever(cycles.append, 900.0, stop) == 0
    assert cycles == []


@pytest.mark.parametrize(
    ("now", "slot"),
    [(0.0, 900.0), (899.9, 900.0), (900.0, 1800.0), (2500.0, 2700.0), (-5.0, 900.0)],
)
def test_next_slot_is_the_first_later_multiple_of_the_interval(now: float, slot: float) -> None:
    assert next_slot(0.0, 900.0, now) == slot
