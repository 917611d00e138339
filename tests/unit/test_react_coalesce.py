"""One run per target and window; a running target's new events wait for the next run."""

from __future__ import annotations

from esbridge.react.coalesce import Coalescer, Event
from tests.helpers.seams import FakeClock


def ev(offset: int, partition: int = 0) -> Event:
    return Event("billing", partition, offset)


def test_events_for_one_target_within_the_window_make_one_group() -> None:
    clock = FakeClock()
    gather: Coalescer[str] = Coalescer(5.0, clock)
    gather.add("/alice/files/d", "scan d", ev(1))
    clock.advance(2)
    gather.add("/alice/files/d", "scan d", ev(2, partition=1))
    gather.add("/bob/files", "scan bob", ev(3))
    assert gather.take_due(set(), 10) == []
    clock.advance(3)
    due = gather.take_due(set(), 10)
    assert [(g.key, g.events) for g in due] == [("/alice/files/d", [ev(1), ev(2, partition=1)])]
    assert gather.next_due() == 1007.0
    clock.advance(2)
    assert [g.work for g in gather.take_due(set(), 10)] == ["scan bob"]
    assert len(gather) == 0


def test_the_window_is_fixed_from_the_first_event_not_restarted() -> None:
    clock = FakeClock()
    gather: Coalescer[str] = Coalescer(5.0, clock)
    for offset in range(10):
        gather.add("d", "scan", ev(offset))
        clock.advance(1)
        if offset == 4:
            assert len(gather.take_due(set(), 1)[0].events) == 5
    assert gather.open["d"].events[0] == ev(5)


def test_a_target_already_running_waits_and_the_limit_is_kept() -> None:
    clock = FakeClock()
    gather: Coalescer[str] = Coalescer(0.0, clock)
    gather.add("a", "scan a", ev(1))
    gather.add("b", "scan b", ev(2))
    gather.add("c", "scan c", ev(3))
    assert [g.key for g in gather.take_due({"a"}, 1)] == ["b"]
    assert [g.key for g in gather.take_due({"a"}, 5)] == ["c"]
    assert [g.key for g in gather.take_due(set(), 5)] == ["a"]
