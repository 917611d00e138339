"""Which offsets may be committed: per partition, up to the first matching message whose
action has not finished (succeeded, or failed for good and its dead letter written).

Pure. Messages arrive in offset order per partition; those that match nothing are settled at
once. Committing the contiguous prefix means a crash at any moment re-reads every message
whose action was not known to be done, and nothing else is promised.
"""

from __future__ import annotations

from collections.abc import Iterable

from esbridge.ingest.kafka.base import Partition


class Ledger:
    def __init__(self) -> None:
        self.next_offset: dict[Partition, int] = {}
        self.open: dict[Partition, set[int]] = {}
        self.committed: dict[Partition, int] = {}

    def seen(self, partition: Partition, offset: int, *, pending: bool) -> None:
        """A message read; `pending` ones keep their offset uncommitted until `finished`."""
        self.next_offset[partition] = max(offset + 1, self.next_offset.get(partition, 0))
        if pending:
            self.open.setdefault(partition, set()).add(offset)

    def finished(self, partition: Partition, offset: int) -> None:
        """The action for this message is done for good (a revoked partition's is ignored)."""
        self.open.get(partition, set()).discard(offset)

    def committable(self) -> dict[Partition, int]:
        """Per partition, the offset to commit (the next one to read) where it moved on."""
        out = {}
        for partition, end in self.next_offset.items():
            waiting = self.open.get(partition)
            position = min(waiting) if waiting else end
            if position > self.committed.get(partition, 0):
                out[partition] = position
        return out

    def mark_committed(self, offsets: dict[Partition, int]) -> None:
        self.committed.update(offsets)

    def forget(self, partitions: Iterable[Partition]) -> None:
        """Partitions taken away: their new owner re-reads what was not committed."""
        for partition in partitions:
            self.next_offset.pop(partition, None)
            self.open.pop(partition, None)
            self.committed.pop(partition, None)

    def pending(self) -> int:
        """Matching messages whose action has not finished."""
        return sum(len(offsets) for offsets in self.open.values())
