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


class Cycles:
    """What every looping daemon records per cycle: its duration, its outcome, the time of the
    last good one, and the run of failures its health depends on."""

    def __init__(self, registry: CollectorRegistry, prefix: str, unit: str = "cycle") -> None:
        """`prefix` and `unit` name the metrics: `<prefix>_<unit>_seconds`, `<prefix>_<unit>s_total`
        (`passes` for `pass`), `<prefix>_last_success_timestamp_seconds`."""
        plural = f"{unit}es" if unit.endswith("s") else f"{unit}s"
        self.progress = CycleProgress()
        self.seconds = histogram(registry, f"{prefix}_{unit}_seconds")
        self.outcomes = counter(registry, f"{prefix}_{plural}_total")
        self.last_success = gauge(registry, f"{prefix}_last_success_timestamp_seconds")

    def record(self, seconds: float, error: str | None, wall_clock: Callable[[], float]) -> bool:
        """True when the cycle succeeded."""
        self.seconds.observe(seconds)
        self.outcomes.labels("failed" if error else "ok").inc()
        if error:
            self.progress.failed(error)
            return False
        self.progress.succeeded()
        self.last_success.set(wall_clock())
        return True


class WatchMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.cycles = Cycles(registry, "esbridge_watch")
        self.progress = self.cycles.progress
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
        self.cycles.record(seconds, error, wall_clock)
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
        self.passes = Cycles(registry, "esbridge_maintain", "pass")
        self.progress = self.passes.progress
        self.rollovers = counter(registry, "esbridge_maintain_rollovers_total")
        self.deletions = counter(registry, "esbridge_maintain_deletions_total")
        self.skipped = counter(registry, "esbridge_maintain_skipped_total")

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
        if not self.passes.record(seconds, error, wall_clock):
            return
        self.rollovers.inc(rollovers)
        self.deletions.inc(deletions)
        self.skipped.inc(skipped)


class PollMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.cycles = Cycles(registry, "esbridge_poll")
        self.progress = self.cycles.progress
        self.published = counter(registry, "esbridge_poll_snapshots_published_total")
        self.pools = gauge(registry, "esbridge_poll_pools")

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
        if not self.cycles.record(seconds, error, wall_clock):
            return
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
