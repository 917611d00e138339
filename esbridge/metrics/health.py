"""When a daemon answers 503 on /healthz: pure rules over what it last did, with the clock as
an argument, so each rule has a unit test without waiting (tests/unit/test_metrics_health.py).

Unhealthy means "cannot make progress", not "idle": an ingest with nothing to read is healthy.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Health:
    ok: bool
    reason: str = "ok"


OK = Health(True)


@dataclass
class IngestProgress:
    """What ingest's health depends on; the pipeline and the command update it."""

    started: float
    endpoint: str = ""
    connected: bool = False
    last_commit: float | None = None
    """When offsets were last committed; None before the first commit."""
    lag: int | None = None
    """Messages between the end offsets and the committed offsets, as last asked."""
    failure: str | None = None


def ingest_health(progress: IngestProgress, now: float, limit: float) -> Health:
    """Unhealthy once nothing was committed for `limit` seconds while messages wait (lag > 0),
    or once Elasticsearch could not be reached for `limit` seconds at start, or on a failure
    that ends the run."""
    if progress.failure is not None:
        return Health(False, progress.failure)
    if not progress.connected:
        waited = now - progress.started
        if waited >= limit:
            return Health(False, f"no connection to Elasticsearch at {progress.endpoint} for "
                                 f"{waited:.0f}s")  # fmt: skip
        return OK
    since = now - (progress.started if progress.last_commit is None else progress.last_commit)
    if progress.lag and since >= limit:
        return Health(False, f"no commit for {since:.0f}s while {progress.lag} messages wait")
    return OK


@dataclass
class CycleProgress:
    """Consecutive failed cycles of a looping daemon (watch, maintain --loop)."""

    failures: int = 0
    last_error: str = ""

    def succeeded(self) -> None:
        self.failures, self.last_error = 0, ""

    def failed(self, error: str) -> None:
        self.failures += 1
        self.last_error = error


def cycle_health(progress: CycleProgress, limit: int, what: str = "cycles") -> Health:
    """Unhealthy after `limit` consecutive failed cycles; one success makes it healthy again."""
    if progress.failures >= limit:
        error = progress.last_error.splitlines()[0] if progress.last_error else "?"
        return Health(False, f"{progress.failures} consecutive {what} failed, last: {error}")
    return OK
