"""The metrics of the looping daemons: watch cycles and maintain passes."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping

from prometheus_client import CollectorRegistry

from esbridge.metrics.declare import counter, gauge, histogram
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
