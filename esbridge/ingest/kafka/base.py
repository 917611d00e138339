"""The consumer seam: what the pipeline needs of a Kafka consumer-group member.

Both client backends implement `Source`; the pipeline takes one as a parameter, so its ordering
and lifecycle rules can be tested with a small fake and proven end to end with the real broker.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from esbridge.ingest.message import Message

Partition = tuple[str, int]
PartitionsCallback = Callable[[set[Partition]], None]


class Source(Protocol):
    """A consumer-group member, whichever client backs it."""

    def subscribe(
        self, topics: list[str], on_revoked: PartitionsCallback, on_assigned: PartitionsCallback
    ) -> None: ...
    def poll(self, timeout: float, max_records: int) -> list[Message]: ...
    def commit(self, offsets: dict[Partition, int], *, blocking: bool = True) -> None: ...
    def pause(self) -> None: ...
    def resume(self) -> None: ...
    def drained(self) -> bool: ...
    def lag(self) -> int | None: ...
    def close(self) -> None: ...
