"""The metrics of the looping daemons: watch cycles, maintain passes, poll cycles, and the
reactors' and the archiver's counts."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping

from prometheus_client import CollectorRegistry
from prometheus_client.core import Metric
from prometheus_client.registry import Collector

from esbridge.metrics.declare import counter, family, gauge, histogram
from esbridge.metrics.health import CycleProgress


class WatchMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.progress = CycleProgress()
        self.seconds = histogram(registry, "esbridge_watch_cycle_seconds")
        self.cycles = counter(registry, "esbridge_watch_cycles_total")
        self.last_success = gauge(registry, "esbridge_watch_last_success_timestamp_seconds")
        self.occurrences = counter(registry, "esbridge_watch_occurrences_total")
        self.issues = gauge(registry, "esbridge_issues")
        self.notifications = counter(registry, "esbridge_notifications_total")
        self.actions = counter(registry, "esbridge_actions_total")
        self.statuses: set[str] = set()

    def cycle(
        self,
        seconds: float,
        *,
        error: str | None,
        occurrences: int = 0,
        statuses: Mapping[str, int] | None = None,
        notified: bool | None = None,
        actions_run: int = 0,
        actions_refused: int = 0,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        """One cycle: `error` None when it succeeded; `notified` None when nothing was due."""
        self.seconds.observe(seconds)
        self.cycles.labels("failed" if error else "ok").inc()
        if error:
            self.progress.failed(error)
        else:
            self.progress.succeeded()
            self.last_success.set(wall_clock())
        self.occurrences.inc(occurrences)
        if statuses is not None:
            for status in self.statuses - statuses.keys():
                self.issues.labels(status).set(0)
            for status, count in statuses.items():
                self.issues.labels(status).set(count)
            self.statuses |= set(statuses)
        if notified is not None:
            self.notifications.labels("sent" if notified else "failed").inc()
        if actions_run:
            self.actions.labels("run").inc(actions_run)
        if actions_refused:
            self.actions.labels("refused").inc(actions_refused)


class MaintainMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.progress = CycleProgress()
        self.passes = counter(registry, "esbridge_maintain_passes_total")
        self.seconds = histogram(registry, "esbridge_maintain_pass_seconds")
        self.rollovers = counter(registry, "esbridge_maintain_rollovers_total")
        self.deletions = counter(registry, "esbridge_maintain_deletions_total")
        self.skipped = counter(registry, "esbridge_maintain_skipped_total")
        self.last_success = gauge(registry, "esbridge_maintain_last_success_timestamp_seconds")

    def passed(
        self,
        seconds: float,
        *,
        error: str | None,
        rollovers: int = 0,
        deletions: int = 0,
        skipped: int = 0,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.seconds.observe(seconds)
        self.passes.labels("failed" if error else "ok").inc()
        if error:
            self.progress.failed(error)
            return
        self.progress.succeeded()
        self.last_success.set(wall_clock())
        self.rollovers.inc(rollovers)
        self.deletions.inc(deletions)
        self.skipped.inc(skipped)


class PollMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.progress = CycleProgress()
        self.cycles = counter(registry, "esbridge_poll_cycles_total")
        self.seconds = histogram(registry, "esbridge_poll_cycle_seconds")
        self.published = counter(registry, "esbridge_poll_snapshots_published_total")
        self.pools = gauge(registry, "esbridge_poll_pools")
        self.last_success = gauge(registry, "esbridge_poll_last_success_timestamp_seconds")

    def cycle(
        self,
        seconds: float,
        *,
        error: str | None,
        published: int = 0,
        pools: int = 0,
        uncached: int = 0,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        """One cycle: `error` None when it published its snapshots."""
        self.seconds.observe(seconds)
        self.cycles.labels("failed" if error else "ok").inc()
        if error:
            self.progress.failed(error)
            return
        self.progress.succeeded()
        self.last_success.set(wall_clock())
        self.published.inc(published)
        self.pools.labels("cached").set(pools - uncached)
        self.pools.labels("uncached").set(uncached)


Counts = Mapping[str, int]


class CountsCollector(Collector):
    """Counters read at scrape time from counts a loop keeps as plain integers, so the loop pays
    nothing per message. `read` gives, per label values, the counts by metric name."""

    def __init__(
        self, read: Callable[[], Mapping[tuple[str, ...], Counts]], names: tuple[str, ...]
    ):
        self.read = read
        self.names = names

    def collect(self) -> Iterator[Metric]:
        families = {name: family(name) for name in self.names}
        for labels, counts in self.read().items():
            for name, value in counts.items():
                families[name].add_metric(list(labels), value)
        yield from families.values()


REACT_NAMES = (
    "esbridge_react_messages_total",
    "esbridge_react_matched_total",
    "esbridge_react_actions_total",
    "esbridge_react_refused_total",
)


def react_metrics(registry: CollectorRegistry, counts: Callable[[], Mapping[str, Counts]]) -> None:
    """`counts()`: per reactor, its `read`, `matched`, `ran`, `failed` and `refused` counts."""

    def read() -> dict[tuple[str, ...], Counts]:
        found: dict[tuple[str, ...], Counts] = {}
        for reactor, c in counts().items():
            found[(reactor,)] = {
                "esbridge_react_messages_total": c["read"],
                "esbridge_react_matched_total": c["matched"],
                "esbridge_react_refused_total": c["refused"],
            }
            found[(reactor, "ok")] = {"esbridge_react_actions_total": c["ran"]}
            found[(reactor, "failed")] = {"esbridge_react_actions_total": c["failed"]}
        return found

    registry.register(CountsCollector(read, REACT_NAMES))


ARCHIVE_NAMES = (
    "esbridge_archive_messages_consumed_total",
    "esbridge_archive_records_total",
    "esbridge_archive_files_total",
    "esbridge_archive_records_skipped_total",
    "esbridge_archive_records_buffered",
)


def archive_metrics(registry: CollectorRegistry, counts: Callable[[], Counts]) -> None:
    """`counts()`: the archiver's `consumed`, `archived`, `unparsed`, `files`, `skipped` and
    `buffered` counts (`archived` includes the unparsed records)."""

    def read() -> dict[tuple[str, ...], Counts]:
        c = counts()
        return {
            (): {
                "esbridge_archive_messages_consumed_total": c["consumed"],
                "esbridge_archive_files_total": c["files"],
                "esbridge_archive_records_skipped_total": c["skipped"],
                "esbridge_archive_records_buffered": c["buffered"],
            },
            ("parsed",): {"esbridge_archive_records_total": c["archived"] - c["unparsed"]},
            ("unparsed",): {"esbridge_archive_records_total": c["unparsed"]},
        }

    registry.register(CountsCollector(read, ARCHIVE_NAMES))
