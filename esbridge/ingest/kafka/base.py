"""The consumer seam: what the pipeline needs of a Kafka consumer-group member.

Both client backends implement `Source`; the pipeline takes one as a parameter, so its ordering
and lifecycle rules can be tested with a small fake and proven end to end with the real broker.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Mapping
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
    def lag(self, committed: Mapping[Partition, int]) -> dict[Partition, int]:
        """Per assigned partition, the broker's end offset minus the committed offset: the
        messages not yet safely in the search engine. `committed` holds what this member
        committed; for other partitions the group's committed offset is asked for."""
        ...

    def close(self) -> None: ...
    def seek(self, offsets: dict[Partition, int]) -> None:
        """Moves assigned partitions to these offsets; called from the on_assigned callback
        (the archive resumes where its files end, whatever the group committed)."""
        ...

    def topic_ids(self, topics: set[str]) -> dict[str, str]:
        """Each topic's Kafka topic id (`topic_id_text`) where the cluster has one (Kafka 2.8+).

        Called from the on_assigned callback, once per assignment; raises when it cannot ask.
        """
        ...


def topic_id_text(raw: bytes) -> str | None:
    """A topic id as Kafka prints it (22 characters of base64url); None for the zero id, which
    Kafka sends when a topic has none."""
    if not any(raw):
        return None
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")
