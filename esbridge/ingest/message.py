"""What the pipeline knows of one Kafka message, independent of the client library."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Message:
    topic: str
    partition: int
    offset: int
    value: bytes | None
    timestamp: int | None = None
    """The record's Kafka timestamp in epoch milliseconds, when the client reports one."""
    key: bytes | None = None
