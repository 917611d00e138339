"""Reading Elasticsearch's bulk answers: what succeeded, what to retry, what to reject.

Only a refusal that is about the document may turn it into a dead letter. A refusal that is
about the request, the credentials or the cluster's state (a closed index, a missing alias, a
block, an overloaded node) is retried, with its messages held uncommitted, however long it
lasts: dead-lettering them would file a healthy record as broken.
"""

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
        "index_closed_exception",
        "index_not_found_exception",
    }
)
NO_WRITE_INDEX = "no write index is defined for alias"
"""The start of the 400 reason when an alias has no write index: the alias's fault, not ours."""


class Outcome(Enum):
    INDEXED = "indexed"
    CONFLICT = "conflict"
    """409 on `create`: the id exists. A replay when the stored record is this one."""
    RETRY = "retry"
    DENIED = "denied"
    """401/403 for esbridge's user: retried, and the run ends after `auth_failure_timeout`."""
    REJECTED = "rejected"


class Refusal(Enum):
    """A bulk request refused as a whole: never a verdict on its documents."""

    RETRY = "retry"
    """429, 5xx, unreachable: the cluster is busy or away."""
    DENIED = "denied"
    """401, or 403 other than a block: the credentials or the user's privileges."""
    TOO_LARGE = "too_large"
    """413: the body is above the node's (or a proxy's) limit; the batch is split."""
    REQUEST = "request"
    """Any other 4xx (404 on the endpoint, 400 from a proxy, ...): retried, loudly."""


def classify(status: int, error: dict[str, Any] | None) -> Outcome:
    """One item's answer: 409 on `create` is a conflict; cluster-state errors are retried."""
    if 200 <= status < 300:
        return Outcome.INDEXED
    error_type = (error or {}).get("type", "")
    if status == 409 and error_type == "version_conflict_engine_exception":
        return Outcome.CONFLICT
    if status in (401, 403) and error_type != "cluster_block_exception":
        return Outcome.DENIED
    if status in {404, 429} or status >= 500 or error_type in TRANSIENT_ERRORS:
        return Outcome.RETRY
    if error_type == "illegal_argument_exception" and str(
        (error or {}).get("reason", "")
    ).startswith(NO_WRITE_INDEX):
        return Outcome.RETRY
    return Outcome.REJECTED


def classify_request(status: int, error_type: str) -> Refusal:
    """The whole bulk request was refused with HTTP `status` (and Elasticsearch's error type)."""
    if status == 413:
        return Refusal.TOO_LARGE
    if status in (401, 403) and error_type != "cluster_block_exception":
        return Refusal.DENIED
    if status == 429 or status >= 500 or error_type in TRANSIENT_ERRORS:
        return Refusal.RETRY
    return Refusal.REQUEST


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
