"""One poll cycle: the pool list, every pool's usage (a bounded number at once), one snapshot
per pool, all published together.

What a cycle publishes is whole or nothing:

* The list fails (unreachable, TLS, timeout, 401/403, 5xx, not JSON): nothing is published,
  one line says why, the cycle failed.
* A pool's usage fails (timeout, 5xx, 404 because it was just removed): the pool is still
  published, from what the list says, with `cached: false` and `usage_error: <kind>`, so one
  slow pool cannot hide a thousand others and a dashboard shows it as unknown, not gone.
  One line per kind of failure names the pools.
* Every pool's usage fails: that is dCache failing, not a pool; nothing is published and the
  cycle failed.
* Stopped (SIGTERM) while asking: nothing is published.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson

from esbridge.poll.client import Answer, Frontend, FrontendError
from esbridge.poll.publish import Publisher, PublishError
from esbridge.poll.snapshot import flatten
from esbridge.utc import format_utc

log = logging.getLogger("esbridge.poll")

SHOWN_POOLS = 5
"""Pools named in a failure line; the count is always complete."""


@dataclass
class CycleReport:
    """What one cycle did; `error` is set when it published nothing because it failed."""

    at: datetime
    pools: int = 0
    published: int = 0
    not_cached: int = 0
    usage_failures: dict[str, list[str]] = field(default_factory=dict)
    error: str | None = None
    seconds: float = 0.0

    @property
    def failed(self) -> bool:
        return self.error is not None

    def summary(self) -> str:
        """One greppable line."""
        head = f"cycle {format_utc(self.at)}"
        if self.error is not None:
            return f"{head} failed after {self.seconds:.1f}s, nothing published: {self.error}"
        failed = sum(len(pools) for pools in self.usage_failures.values())
        return (
            f"{head} pools={self.pools} published={self.published} "
            f"not_cached={self.not_cached} usage_failed={failed} seconds={self.seconds:.1f}"
        )


class _StoppedError(Exception):
    """A stop was requested before this pool's usage was asked for."""


def run_cycle(
    frontend: Frontend,
    publisher: Publisher,
    *,
    at: datetime,
    concurrency: int,
    stop: threading.Event | None = None,
    monotonic: Callable[[], float] = time.monotonic,
) -> CycleReport:
    """Ask, flatten, publish; `at` is the cycle's timestamp in every snapshot."""
    report = CycleReport(at)
    started = monotonic()
    try:
        _cycle(frontend, publisher, report, concurrency, stop or threading.Event())
    except (FrontendError, PublishError) as exc:
        report.error = str(exc)
    report.seconds = monotonic() - started
    if report.error is not None:
        stopped = stop is not None and stop.is_set()
        log.log(logging.INFO if stopped else logging.ERROR, "%s", report.summary())
    return report


def _cycle(
    frontend: Frontend,
    publisher: Publisher,
    report: CycleReport,
    concurrency: int,
    stop: threading.Event,
) -> None:
    listing = frontend.list_pools()
    entries: list[dict[str, Any]] = listing.body
    report.pools = len(entries)
    usages = _usages(frontend, [entry["name"] for entry in entries], concurrency, stop)
    if stop.is_set():
        report.error = "stopped while asking dCache"
        return
    failures: dict[str, list[str]] = defaultdict(list)
    first: dict[str, str] = {}
    for name, result in usages.items():
        if isinstance(result, FrontendError):
            failures[result.kind].append(name)
            first.setdefault(result.kind, str(result))
    report.usage_failures = dict(failures)
    for kind, pools in failures.items():
        shown = ", ".join(pools[:SHOWN_POOLS]) + (", ..." if len(pools) > SHOWN_POOLS else "")
        log.warning(
            "usage of %d pool(s) failed: %s: %s (first: %s)", len(pools), kind, shown, first[kind]
        )
    if entries and sum(map(len, failures.values())) == len(entries):
        report.error = f"no pool's usage could be read ({', '.join(sorted(failures))})"
        return
    messages: list[tuple[str, bytes]] = []
    for entry in entries:
        result = usages[entry["name"]]
        snapshot = _snapshot(entry, result, listing, report.at)
        report.not_cached += not snapshot["cached"]
        messages.append((entry["name"], orjson.dumps(snapshot)))
    publisher.publish(messages)
    report.published = len(messages)


def _snapshot(
    entry: dict[str, Any], result: Answer | FrontendError, listing: Answer, at: datetime
) -> dict[str, Any]:
    if isinstance(result, FrontendError):
        return flatten(
            entry, None, at=at, last_modified=listing.last_modified, usage_error=result.kind
        )
    return flatten(
        entry, result.body, at=at, last_modified=result.last_modified or listing.last_modified
    )


def _usages(
    frontend: Frontend, pools: list[str], concurrency: int, stop: threading.Event
) -> dict[str, Answer | FrontendError]:
    """Each pool's usage answer or the error asking for it, `concurrency` at a time; after a
    stop, the requests not yet started are not made."""

    def ask(pool: str) -> Answer:
        if stop.is_set():
            raise _StoppedError
        return frontend.usage(pool)

    results: dict[str, Answer | FrontendError] = {}
    with ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="poll") as pool_exec:
        futures: dict[str, Future[Answer]] = {p: pool_exec.submit(ask, p) for p in pools}
        for pool, future in futures.items():
            try:
                results[pool] = future.result()
            except FrontendError as exc:
                results[pool] = exc
            except _StoppedError:
                continue
    return results
