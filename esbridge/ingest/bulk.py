"""Reading Elasticsearch's per-item bulk answers: what succeeded, what to retry, what to reject."""

from __future__ import annotations

import random
from dataclasses import dataclass
from enum import Enum
from typing import Any

# Refusals that are about the cluster's state at the moment, not about the document.
TRANSIENT_ERRORS = frozenset(
    {
        "cluster_block_exception",
        "es_rejected_execution_exception",
        "circuit_breaking_exception",
        "unavailable_shards_exception",
        "no_shard_available_action_exception",
        "process_cluster_event_timeout_exception",
        "node_not_connected_exception",
        "node_closed_exception",
    }
)


class Outcome(Enum):
    INDEXED = "indexed"
    DUPLICATE = "duplicate"
    RETRY = "retry"
    REJECTED = "rejected"


def classify(status: int, error: dict[str, Any] | None) -> Outcome:
    """429, 5xx and transient cluster errors are retried; a 409 on `create` is a replay."""
    if 200 <= status < 300:
        return Outcome.INDEXED
    error_type = (error or {}).get("type", "")
    if status == 409 and error_type == "version_conflict_engine_exception":
        return Outcome.DUPLICATE
    if status == 429 or status >= 500 or error_type in TRANSIENT_ERRORS:
        return Outcome.RETRY
    return Outcome.REJECTED


def item_result(entry: dict[str, Any]) -> tuple[int, dict[str, Any] | None]:
    """`(status, error)` of one entry of a bulk response's `items`."""
    (result,) = entry.values()
    return int(result.get("status", 500)), result.get("error")


def rejection_reason(status: int, error: dict[str, Any] | None) -> str:
    if not error:
        return f"HTTP {status}"
    reason = f"HTTP {status} {error.get('type', 'error')}: {error.get('reason', '')}"
    cause = error.get("caused_by")
    if isinstance(cause, dict):
        reason += f" (caused by {cause.get('type')}: {cause.get('reason')})"
    return reason


@dataclass
class Backoff:
    """Capped exponential backoff with jitter, so many bridges do not retry in lockstep."""

    initial: float
    maximum: float
    attempt: int = 0

    def next_delay(self) -> float:
        ceiling = min(self.maximum, self.initial * 2.0**self.attempt)
        self.attempt += 1
        jitter: float = random.uniform(0, ceiling / 2)  # noqa: S311 - jitter, not crypto
        return ceiling / 2 + jitter

    def reset(self) -> None:
        self.attempt = 0
