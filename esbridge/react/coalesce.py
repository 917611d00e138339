"""Gathering events for the same target over a window, so the action runs once for them all.

Pure, with the clock injected. A group opens with its target's first event and is due
`window` seconds later (a fixed window, not one restarted by each event: a folder written to
without pause is still scanned every window). Events for a target whose group is already
running open a new group, which waits until that run has ended: two scans of one folder
never overlap, whatever the concurrency.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from esbridge.ingest.kafka.base import Partition

T = TypeVar("T")


@dataclass(frozen=True)
class Event:
    """Where a matching message came from: its provenance, and what it keeps uncommitted."""

    topic: str
    partition: int
    offset: int

    @property
    def where(self) -> Partition:
        return (self.topic, self.partition)


@dataclass
class Group(Generic[T]):
    """One run to do: the target (`key`), what to run (`work`) and the events it settles."""

    key: Hashable
    work: T
    due: float
    events: list[Event] = field(default_factory=list)


class Coalescer(Generic[T]):
    def __init__(self, window: float, clock: Callable[[], float]) -> None:
        self.window = window
        self.clock = clock
        self.open: dict[Hashable, Group[T]] = {}

    def add(self, key: Hashable, work: T, event: Event) -> None:
        """Adds `event` to its target's open group, or opens one due a window from now."""
        group = self.open.get(key)
        if group is None:
            group = self.open[key] = Group(key, work, self.clock() + self.window)
        group.events.append(event)

    def take_due(self, running: set[Hashable], limit: int) -> list[Group[T]]:
        """At most `limit` due groups whose target is not in `running`, oldest first; they
        leave the coalescer."""
        now = self.clock()
        due = [g for g in self.open.values() if g.due <= now and g.key not in running][:limit]
        for group in due:
            del self.open[group.key]
        return due

    def next_due(self) -> float | None:
        """When the earliest open group falls due; None when none is open."""
        return min((g.due for g in self.open.values()), default=None)

    def __len__(self) -> int:
        return len(self.open)
