"""`esbridge watch`: one cycle evaluates every rule, moves every issue on, and sends one digest.

A cycle is safe to repeat and to run in several watchers at once. Reading: each rule's window
is cut on ingest time (`event.ingested`, see `esbridge.watch.query`) and re-reads `lag` before
the last checkpoint, and the lifecycle ignores lines it already counted.
Writing: every change is a conditional write (`IssueStore.update`). Notifying: a watcher first
claims an issue's pending notification with a conditional write, and only the claim's winner
mails it. A watcher killed after claiming leaves a claim that expires after `claim_timeout`;
the next cycle then mails the issue (so at most one digest per claim, and a crash between the
mail and the mark can send one more, never one fewer).

One bad occurrence or issue (a subject Elasticsearch refuses, a document the watcher cannot read)
never fails the cycle: it is skipped with a logged reason and counted in the report, and the
other issues and rules go on. What is about the cluster (unreachable, overloaded, a closed
index) still fails the cycle, which leaves the failing rule's checkpoint where it was.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Protocol

from esbridge.argv import render_command
from esbridge.cluster.errors import ClusterError
from esbridge.cluster.search import SearchCluster
from esbridge.config import Config
from esbridge.config.watch import ActionConfig, RuleConfig, WatchConfig
from esbridge.metrics.loops import WatchMetrics
from esbridge.notify.digest import Digest, Row, build_digest
from esbridge.notify.errors import NotifyError
from esbridge.watch.actions import (
    ActionPlan,
    ActionResult,
    execute,
    plan_action,
    run_action,
    settle_crash,
    with_entries,
)
from esbridge.watch.lifecycle import (
    Deleted,
    Issue,
    Occurrence,
    Status,
    Transition,
    issue_id,
    mark_notified,
    needs_notification,
    observe,
    resolve,
    rides_along,
    tick,
)
from esbridge.watch.match import occurrence_of
from esbridge.watch.policy import RulePolicy, rule_policy
from esbridge.watch.query import resolve_query, rule_query, window_start
from esbridge.watch.reader import PoolInfo, hits
from esbridge.watch.store import REMOVE, IssueConflictError, IssueStore, Record, Remove

log = logging.getLogger("esbridge.watch")


ACTION_STATUSES = frozenset({"unresolved", "no-delay", "temporary", "permanent"})
"""An action runs when one of these problems is first reported, not for every restart blip."""

HISTORY_OUTPUT = 1000
"""Characters of an action's output kept in the history entry (the last ones)."""

CLUSTER_ERRORS = frozenset({"index_closed_exception", "cluster_block_exception"})
"""400-class refusals that are about the issues index, not the issue: they fail the cycle."""


def skippable(exc: Exception) -> bool:
    """Whether `exc` is about one issue or occurrence (skip it), not about the cluster.

    A 400 or 413 refuses what this one request carried (an id or a value the engine will not
    take); ValueError, KeyError and TypeError come from a document the watcher cannot read.
    """
    if isinstance(exc, ClusterError):
        return exc.status in (400, 413) and exc.error_type not in CLUSTER_ERRORS
    return isinstance(exc, ValueError | KeyError | TypeError)


class Sender(Protocol):
    """Delivers a digest or raises NotifyError (`esbridge.notify.dispatch.Notifier`)."""

    def send(self, digest: Digest) -> None: ...


@dataclass
class CycleReport:
    """What one cycle did, for the log line, the CLI and the tests."""

    now: datetime
    windows: dict[str, tuple[datetime, datetime]] = field(default_factory=dict)
    occurrences: int = 0
    resolutions: int = 0
    changed: set[str] = field(default_factory=set)
    deleted: list[str] = field(default_factory=list)
    notified: list[str] = field(default_factory=list)
    digest: Digest | None = None
    error: str | None = None
    actions: list[tuple[str, ActionResult]] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    """(issue id, reason) of every occurrence or issue step skipped as unusable."""
    statuses: dict[str, int] = field(default_factory=dict)
    """Issues per status after the cycle's writes, for the metrics."""

    def notified_ok(self) -> bool | None:
        """Whether a digest went out: None when none was due (or on a dry run)."""
        if self.digest is None or (self.error is None and not self.notified):
            return None
        return self.error is None

    def summary(self) -> str:
        """One line for the log."""
        sent = "not sent: " + self.error if self.error else f"{len(self.notified)} notified"
        return (
            f"{len(self.windows)} rules, {self.occurrences} occurrences, "
            f"{self.resolutions} resolutions, {len(self.changed)} issues changed, "
            f"{len(self.deleted)} deleted, {sent}, {len(self.actions)} actions, "
            f"{len(self.skipped)} skipped"
        )


def _wall_clock() -> datetime:
    return datetime.now(UTC)


class Watcher:
    """Runs the `watch:` rules of `config` against its Elasticsearch.

    Two clocks, the same one in production: `clock` gives the lifecycle's `now` (delays, ttl,
    staleness), and `ingest_clock` ends the windows, so it must be the clock ingest stamps
    `event.ingested` with: the wall clock. Tests step `now` through hours while documents carry
    real ingest times.
    """

    def __init__(
        self,
        config: Config,
        cluster: SearchCluster,
        notifier: Sender | None,
        *,
        clock: Callable[[], datetime] = _wall_clock,
        ingest_clock: Callable[[], datetime] = _wall_clock,
        dry_run: bool = False,
        since: float | None = None,
        metrics: WatchMetrics | None = None,
    ) -> None:
        if config.watch is None:
            raise ValueError("the config has no watch: section")
        self.watch: WatchConfig = config.watch
        self.config = config
        self.cluster = cluster
        self.notifier = notifier
        self.clock = clock
        self.ingest_clock = ingest_clock
        self.dry_run = dry_run
        self.metrics = metrics
        self.since = timedelta(seconds=self.watch.since if since is None else since)
        self.claim_timeout = timedelta(seconds=self.watch.claim_timeout)
        self.token = uuid.uuid4().hex
        """This watcher's claims; a restarted watcher is another one, so old claims must expire."""
        self.store = IssueStore(cluster, self.watch.issues_index, dry_run=dry_run)
        self.policies = {rule.name: rule_policy(self.watch, rule) for rule in self.watch.rules}
        self._actions = {r.name: r.action for r in self.watch.rules if r.action is not None}
        self._indices = {p.name: p.index for p in config.producers}
        self._poolinfo = next((p.index for p in config.producers if p.parser == "poolinfo"), None)

    def run_forever(self, stop: threading.Event, interval: float | None = None) -> None:
        """Cycles every `interval` seconds (the config's by default) until `stop` is set.

        A cycle that fails on Elasticsearch is logged and retried next interval: its windows
        were not checkpointed, so nothing is missed.
        """
        wait = self.watch.interval if interval is None else interval
        while not stop.is_set():
            try:
                log.info("watch cycle: %s", self.observed_cycle().summary())
            except (ClusterError, IssueConflictError) as exc:
                log.error("watch cycle failed, retrying in %gs: %s", wait, exc)
            stop.wait(wait)

    def observed_cycle(self) -> CycleReport:
        """`run_cycle`, timed and counted in `metrics` (when given), failed or not."""
        started = time.monotonic()
        try:
            report = self.run_cycle()
        except Exception as exc:
            if self.metrics is not None:
                self.metrics.cycle(time.monotonic() - started, error=str(exc) or type(exc).__name__)
            raise
        if self.metrics is not None:
            self.metrics.cycle(
                time.monotonic() - started,
                error=report.error,
                occurrences=report.occurrences,
                statuses=report.statuses,
                notified=report.notified_ok(),
                actions_run=sum(result.ran for _, result in report.actions),
                actions_refused=sum(not result.ran for _, result in report.actions),
            )
        return report

    def run_cycle(self, now: datetime | None = None) -> CycleReport:
        """Evaluate, tick, notify: one full cycle at `now` (the clock's time by default)."""
        report = CycleReport(now or self.clock())
        enricher = PoolInfo(self.cluster, self._poolinfo)
        for rule in self.watch.rules:
            self._evaluate(rule, report, enricher)
        self._tick(report)
        self._notify(report)
        return report

    def _evaluate(self, rule: RuleConfig, report: CycleReport, enricher: PoolInfo) -> None:
        """Apply `rule`'s occurrences and resolutions in its window, then move its checkpoint.

        The window is ingest time up to `ingest_clock()`; within an issue, events are applied in
        the order of their own `@timestamp`.
        """
        policy, index = self.policies[rule.name], self._indices[rule.producer]
        end = self.ingest_clock()
        lag = timedelta(seconds=self.watch.lag)
        start = window_start(self.store.checkpoint(rule.name), end, lag=lag, since=self.since)
        report.windows[rule.name] = (start, end)
        events: dict[str, list[tuple[Occurrence, bool]]] = defaultdict(list)
        for doc in hits(self.cluster, index, rule_query(rule, start, end)):
            if (seen := occurrence_of(rule, doc)) is not None:
                key = issue_id(rule.name, seen.subject.name)
                report.occurrences += 1
                with self._skipping(key, report):
                    events[key].append(
                        (replace(seen, subject=enricher.enrich(seen.subject)), False)
                    )
        if (body := resolve_query(rule, start, end)) is not None:
            for doc in hits(self.cluster, index, body):
                if (fix := occurrence_of(rule, doc)) is not None:
                    events[issue_id(rule.name, fix.subject.name)].append((fix, True))
                    report.resolutions += 1
        for key, found in events.items():
            # By time; at the same time the problem first, so its resolution is not lost.
            found.sort(key=lambda event: (event[0].at, event[1]))
            with self._skipping(key, report):
                self._write(key, _applying(found, policy), report)
        self.store.put_checkpoint(rule.name, end)

    @contextmanager
    def _skipping(self, key: str, report: CycleReport) -> Iterator[None]:
        """Skip (log and count) what fails inside for reasons of this one issue's own."""
        try:
            yield
        except (ClusterError, ValueError, KeyError, TypeError) as exc:
            if not skippable(exc):
                raise
            reason = f"{type(exc).__name__}: {exc}"[:HISTORY_OUTPUT]
            report.skipped.append((key, reason))
            log.warning("skipped %s for this cycle: %s", key[:HISTORY_OUTPUT], reason)

    def _tick(self, report: CycleReport) -> None:
        """The clock-driven step of every issue whose rule is still configured."""
        for record in self.store.search():
            policy = self.policies.get(record.issue.rule)
            if policy is not None:
                with self._skipping(record.issue.id, report):
                    action = self._actions.get(record.issue.rule)
                    self._write(record.issue.id, _ticking(policy, report.now, action), report)

    def _write(
        self,
        key: str,
        change: Callable[[Record | None], Record | Remove | None],
        report: CycleReport,
    ) -> None:
        before = self.store.get(key)
        after = self.store.update(key, change)
        if after is None and before is not None:
            report.deleted.append(key)
        elif after is not None and (before is None or after != before.record):
            report.changed.add(key)

    def _notify(self, report: CycleReport) -> None:
        """Claim, act, build and send one digest, and mark what was sent."""
        now = report.now
        records = self.store.search()
        for record in records:
            status = str(record.issue.status)
            report.statuses[status] = report.statuses.get(status, 0) + 1

        def due(issue: Issue) -> bool:
            policy = self.policies.get(issue.rule)
            return policy is not None and needs_notification(issue, policy, now)

        claimed = [c for r in records if due(r.issue) if (c := self._claim(r, due, now, report))]
        if not claimed:
            return
        claimed += [
            c
            for r in records
            if rides_along(r.issue)
            if (c := self._claim(r, rides_along, now, report))
        ]
        for record in claimed:
            with self._skipping(record.issue.id, report):
                self._act(record, report)
        digest = build_digest(
            map(issue_row, (r.issue for r in claimed)),
            total=len(claimed),
            max_rows=self.config.notifications.max_rows if self.config.notifications else 300,
            now=now,
            prefix=self.config.notifications.subject_prefix if self.config.notifications else "",
        )
        report.digest = digest
        if self.dry_run:
            return
        try:
            if self.notifier is not None:
                self.notifier.send(digest)
        except NotifyError as exc:
            report.error = str(exc)
            log.error("%s; the %d issues stay un-notified until it works", exc, len(claimed))
            for record in claimed:
                with self._skipping(record.issue.id, report):
                    self.store.update(record.issue.id, self._releasing)
            return
        for record in claimed:
            with self._skipping(record.issue.id, report):
                self.store.update(record.issue.id, self._marking(record.issue.status, now))
            report.notified.append(record.issue.id)

    def _claim(
        self, record: Record, wanted: Callable[[Issue], bool], now: datetime, report: CycleReport
    ) -> Record | None:
        """`record` claimed by this watcher, or None if it no longer needs it or another has it
        (or the claim could not be written: the issue is then skipped)."""
        if record.claimed_by_other(self.token, now):
            return None
        until = now + self.claim_timeout

        def take(current: Record | None) -> Record | None:
            if current is None or not wanted(current.issue):
                return None
            if current.claimed_by_other(self.token, now):
                return None
            return replace(current, claim_token=self.token, claim_until=until)

        won = None
        with self._skipping(record.issue.id, report):
            won = self.store.update(record.issue.id, take)
        return won if won is not None and won.claim_token == self.token else None

    def _releasing(self, current: Record | None) -> Record | None:
        if current is None or current.claim_token != self.token:
            return None
        return current.released()

    def _marking(self, sent: Status, now: datetime) -> Callable[[Record | None], Record | None]:
        """Mark the status that was sent (not a newer one) notified, if the claim still holds."""

        def mark(current: Record | None) -> Record | None:
            if current is None or current.claim_token != self.token:
                return None
            issue = replace(mark_notified(current.issue, now), notified_status=sent)
            return replace(current, issue=issue).released()

        return mark

    def _act(self, record: Record, report: CycleReport) -> None:
        """Run the rule's action for a problem being reported, recording its start and its end.

        The start is written before the command runs, with a conditional write that re-checks
        this watcher's claim and the history (`plan_action`): of two watchers, only the one
        whose start is stored runs it, and a start without an end (this watcher's predecessor
        died during the run) is not run again unless the rule says so.
        """
        action = self._actions.get(record.issue.rule)
        issue = record.issue
        if action is None or issue.status not in ACTION_STATUSES:
            return
        argv = tuple(render_command(action.command, _placeholders(issue)))
        now = report.now
        if self.dry_run:
            result = run_action(
                action, _placeholders(issue), dry_run=True, now=now, last_run=record.action_at
            )
            report.actions.append((issue.id, result))
            return
        plan: ActionPlan | None = None

        def begin(current: Record | None) -> Record | None:
            nonlocal plan
            plan = None
            if current is None or current.claim_token != self.token:
                return None
            plan = plan_action(current.issue, action, argv, now=now, last_run=current.action_at)
            if not plan.entries:
                return None
            started = with_entries(current.issue, plan.entries)
            return replace(current, issue=started, action_at=now if plan.run else current.action_at)

        self.store.update(issue.id, begin)
        if plan is None:
            return
        if not plan.run:
            report.actions.append((issue.id, ActionResult(False, plan.reason, None, "", argv)))
            return
        began = time.monotonic()
        result = execute(argv, action.timeout)
        report.actions.append((issue.id, result))
        ended = now + timedelta(seconds=time.monotonic() - began)
        entry = Transition(
            ended, issue.status, issue.status, _action_reason(result), action="ended"
        )

        def end(current: Record | None) -> Record | None:
            if current is None:
                return None
            return replace(current, issue=with_entries(current.issue, (entry,)))

        self.store.update(issue.id, end)


def _placeholders(issue: Issue) -> dict[str, str]:
    """What an action's `{placeholders}` stand for, for `issue`."""
    subject = issue.subject
    return {
        "subject": subject.name,
        "pool": subject.pool or "",
        "domain": subject.domain or "",
        "host": subject.host or "",
        "rule": issue.rule,
        "type": issue.type,
    }


def _applying(
    events: list[tuple[Occurrence, bool]], policy: RulePolicy
) -> Callable[[Record | None], Record | None]:
    def apply(current: Record | None) -> Record | None:
        issue = None if current is None else current.issue
        for event, resolving in events:
            if not resolving:
                issue = observe(issue, event, policy)
            elif issue is not None:
                issue = resolve(issue, event.at, event.message)
        if issue is None:
            return None
        return Record(issue) if current is None else replace(current, issue=issue)

    return apply


def _ticking(
    policy: RulePolicy, now: datetime, action: ActionConfig | None
) -> Callable[[Record | None], Record | Remove | None]:
    """The clock's step, and the record of a run whose watcher died, whatever the status now."""

    def step(current: Record | None) -> Record | Remove | None:
        if current is None:
            return None
        moved = tick(current.issue, policy, now)
        if isinstance(moved, Deleted):
            return REMOVE
        settled = moved if action is None else settle_crash(moved, action, now)
        return replace(current, issue=settled)

    return step


def issue_row(issue: Issue) -> Row:
    """`issue` as a row of the digest (and of `esbridge issues list`)."""
    subject = issue.subject
    return Row(
        pool_domain=subject.domain or subject.name,
        pool_group=", ".join(subject.pool_groups),
        status=issue.status,
        type=issue.type,
        message=issue.latest_message,
        latest=issue.last_seen,
        subject=subject.name,
        new=issue.notified_status is None,
    )


def _action_reason(result: ActionResult) -> str:
    outcome = result.reason if result.exit_code is None else f"exit {result.exit_code}"
    output = result.output[-HISTORY_OUTPUT:].strip()
    text = f"action {' '.join(result.argv)}: {outcome}"
    return f"{text}\n{output}" if output else text
