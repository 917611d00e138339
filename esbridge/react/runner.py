"""The consumer loop of `esbridge react`: poll, match, map, coalesce, run, dead-letter, commit.

Each reactor reads its producer's topics in a consumer group of its own. A message that matches
nothing is settled at once; a matching one keeps its offset uncommitted until the action of its
target has finished: succeeded, or failed for good (or been refused) with its dead letter
written to the search engine. Offsets are committed per partition up to the first unfinished
one (`offsets.Ledger`), so a crash at any moment re-runs, on restart, every action not known to
be done: at least once, never for a message that does not match.

Seams are parameters: the Kafka `Source`, the dead-letter sink, the function that performs a
group's work, how work is started (a thread; the unit tests run it inline) and the clock.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import time
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass, field
from typing import IO, Any, Protocol

import orjson

from esbridge.argv import render_command
from esbridge.cluster.errors import ClusterError, RequestRejectedError
from esbridge.cluster.search import SearchCluster
from esbridge.config.react import ReactorConfig
from esbridge.ingest.kafka.base import Partition, Source
from esbridge.ingest.message import Message
from esbridge.react.actions import Account, Outcome, Processes, post, render, run_with_retries
from esbridge.react.coalesce import Coalescer, Event, Group
from esbridge.react.match import MISSING, lookup, matches
from esbridge.react.offsets import Ledger
from esbridge.react.paths import Refused, map_path, unsafe_text
from esbridge.utc import now_utc

log = logging.getLogger("esbridge.react")

POLL_RECORDS = 500
ORIGINAL_LIMIT = 16 * 1024
"""Characters of a refused message kept in its dead letter."""

DEADLETTER_MAPPINGS: dict[str, Any] = {
    "dynamic": False,
    "properties": {
        "@timestamp": {"type": "date"},
        "reactor": {"type": "keyword"},
        "kafka": {
            "properties": {
                "topic": {"type": "keyword"},
                "partition": {"type": "integer"},
                "offset": {"type": "long"},
            }
        },
        "argv": {"type": "keyword", "ignore_above": 8191},
        "target": {"type": "object", "enabled": False},  # kept, not indexed: any engine
        "exit_code": {"type": "integer"},
        "attempts": {"type": "integer"},
        "output": {"type": "text"},
        "reason": {
            "type": "text",
            "fields": {"keyword": {"type": "keyword", "ignore_above": 1024}},
        },
        "original": {"type": "text", "index": False},
    },
}
"""The dead-letter index react creates on start when it is missing (`esbridge setup` does not
install it: it belongs to react, and only sites running reactors need it)."""


@dataclass(frozen=True)
class Work:
    """What a group runs: an argument list, or a webhook's rendered body."""

    argv: tuple[str, ...] | None = None
    body: Mapping[str, str] | None = None

    def shown(self) -> str:
        """One log-safe line: JSON escapes control characters and quotes."""
        return json.dumps(list(self.argv) if self.argv is not None else dict(self.body or {}))


class DeadLetterSink(Protocol):
    def write(self, documents: list[tuple[str, dict[str, Any]]]) -> None:
        """Stores (id, document) pairs; raises when any was not stored."""


class ClusterDeadLetters:
    """Dead letters in the search engine through `SearchCluster`, with ids that make a replay
    after a crash overwrite rather than duplicate."""

    def __init__(self, cluster: SearchCluster, index: str) -> None:
        self.cluster = cluster
        self.index = index

    def ensure_index(self) -> None:
        if self.cluster.index_exists(self.index):
            return
        try:
            self.cluster.create_index(self.index, {"mappings": DEADLETTER_MAPPINGS})
        except RequestRejectedError as exc:  # another react created it meanwhile
            if exc.error_type != "resource_already_exists_exception":
                raise

    def write(self, documents: list[tuple[str, dict[str, Any]]]) -> None:
        lines = []
        for doc_id, document in documents:
            lines.append(orjson.dumps({"index": {"_index": self.index, "_id": doc_id}}))
            lines.append(orjson.dumps(document))
        answer = self.cluster.bulk(b"\n".join(lines) + b"\n")
        if answer.get("errors"):
            failed = [i for i in answer.get("items", []) if i.get("index", {}).get("error")]
            first = failed[0]["index"]["error"] if failed else {}
            raise ClusterError(
                f"{len(failed)} dead letters not stored in {self.index}: {first.get('type')}"
            )


def perform_for(
    reactor: ReactorConfig, account: Account, processes: Processes, stop: threading.Event
) -> Callable[[Work], Outcome]:
    """How `reactor` performs a group's work: its command (as `account`) or its webhook, with
    its retry policy; waits between attempts end early on `stop`."""

    def wait(seconds: float) -> bool:
        return not stop.wait(seconds)

    def perform(work: Work) -> Outcome:
        command, webhook = reactor.action.command, reactor.action.webhook
        if command is not None and work.argv is not None:
            argv = work.argv
            return run_with_retries(
                lambda: processes.run(argv, command.timeout, account),
                fail_output=command.fail_output,
                retry=command.retry,
                wait=wait,
            )
        assert webhook is not None
        payload = {"reactor": reactor.name, "target": dict(work.body or {})}
        return run_with_retries(
            lambda: post(webhook, payload), fail_output=(), retry=webhook.retry, wait=wait
        )

    return perform


def start_thread(work: Callable[[], None]) -> None:
    threading.Thread(target=work, daemon=True, name="react-action").start()


@dataclass
class Counts:
    ran: int = 0
    failed: int = 0
    refused: int = 0
    matched: int = 0
    read: int = 0


@dataclass
class ReactorLoop:
    """One reactor's state over its seams; `step` does one round of the loop."""

    config: ReactorConfig
    topics: list[str]
    source: Source
    perform: Callable[[Work], Outcome]
    dead_letters: DeadLetterSink | None
    """None with --dry-run: nothing is written, nothing committed."""
    clock: Callable[[], float] = time.monotonic
    spawn: Callable[[Callable[[], None]], None] = start_thread
    echo: IO[str] | None = None
    ledger: Ledger = field(default_factory=Ledger)
    counts: Counts = field(default_factory=Counts)

    def __post_init__(self) -> None:
        self.coalescer: Coalescer[Work] = Coalescer(self.config.coalesce, self.clock)
        self.running: dict[Hashable, Group[Work]] = {}
        self.results: queue.Queue[tuple[Group[Work], Outcome]] = queue.Queue()
        self.unwritten: list[tuple[Event, dict[str, Any]]] = []
        self.last_message = self.clock()
        self.source.subscribe(self.topics, self.on_revoked, self.on_assigned)

    @property
    def dry_run(self) -> bool:
        return self.dead_letters is None

    def on_assigned(self, partitions: set[Partition]) -> None:
        log.info("reactor=%s partitions assigned: %s", self.config.name, _format(partitions))

    def on_revoked(self, partitions: set[Partition]) -> None:
        """Commits what is finished; unfinished work of these partitions is re-read by their
        next owner (its runs here still end, but no longer count)."""
        log.info("reactor=%s partitions revoked: %s", self.config.name, _format(partitions))
        self.commit(blocking=False)
        self.ledger.forget(partitions)

    def step(self, poll_timeout: float) -> None:
        self.collect()
        self.write_dead_letters()
        self.commit()
        messages = self.source.poll(poll_timeout, POLL_RECORDS)
        if messages:
            self.last_message = self.clock()
        for message in messages:
            self.handle(message)
        self.dispatch()

    def handle(self, message: Message) -> None:
        self.counts.read += 1
        event = Event(message.topic, message.partition, message.offset)
        if message.value is None:  # a tombstone carries nothing to match
            self.ledger.seen(event.where, event.offset, pending=False)
            return
        try:
            record = orjson.loads(message.value)
        except orjson.JSONDecodeError:
            record = None
        if not isinstance(record, dict):
            reason = "the message is not a JSON object in UTF-8: cannot tell whether it matches"
            self.refuse(event, message.value, reason)
            return
        if not matches(self.config.match, record):
            self.ledger.seen(event.where, event.offset, pending=False)
            return
        built = self.build(record)
        if built is None:
            self.ledger.seen(event.where, event.offset, pending=False)
        elif isinstance(built, Refused):
            self.refuse(event, message.value, built.reason)
        else:
            self.counts.matched += 1
            key, work = built
            self.ledger.seen(event.where, event.offset, pending=True)
            self.coalescer.add(key, work, event)

    def build(self, record: Mapping[str, object]) -> tuple[Hashable, Work] | Refused | None:
        """The target's work for a matching record; None when its path is not this reactor's."""
        values: dict[str, str] = {}
        if self.config.path is not None:
            mapped = map_path(lookup(record, self.config.path.field), self.config.path)
            if mapped is None or isinstance(mapped, Refused):
                return mapped
            values.update(mapped.values())
        for name, path in self.config.fields.items():
            value = lookup(record, path)
            if (
                value is MISSING
                or isinstance(value, bool)
                or not isinstance(value, str | int | float)
            ):
                return Refused(f"the field {path} is missing or not a string or number")
            if (problem := unsafe_text(str(value))) is not None:
                return Refused(f"the field {path} {problem}")
            values[name] = str(value)
        action = self.config.action
        if action.command is not None:
            argv = render(action.command.argv, values)
            if isinstance(argv, str):
                return Refused(argv)
            return argv, Work(argv=argv)
        assert action.webhook is not None
        body = {key: render_command([t], values)[0] for key, t in action.webhook.body.items()}
        return tuple(sorted(body.items())), Work(body=body)

    def refuse(self, event: Event, original: bytes | None, reason: str) -> None:
        self.counts.refused += 1
        self.ledger.seen(event.where, event.offset, pending=True)
        text = (original or b"").decode(errors="replace")[:ORIGINAL_LIMIT]
        log.warning(
            "reactor=%s outcome=refused kafka=%s[%d]@%d reason=%s",
            self.config.name, event.topic, event.partition, event.offset, reason,
        )  # fmt: skip
        self.unwritten.append(
            (event, self.document(event, None, None, reason) | {"original": text})
        )

    def dispatch(self) -> None:
        free = self.config.action.concurrency - len(self.running)
        for group in self.coalescer.take_due(set(self.running), max(free, 0)):
            if self.dry_run:
                if self.echo is not None:
                    print(group.work.shown(), file=self.echo, flush=True)
                for event in group.events:
                    self.ledger.finished(event.where, event.offset)
                continue
            self.running[group.key] = group
            self.spawn(self.job(group))

    def job(self, group: Group[Work]) -> Callable[[], None]:
        def run() -> None:
            try:
                outcome = self.perform(group.work)
            except Exception as exc:  # a bug must not leave its target running for ever
                log.exception("reactor=%s action raised", self.config.name)
                outcome = Outcome("failed", 1, None, "", f"esbridge error: {exc}")
            self.results.put((group, outcome))

        return run

    def collect(self) -> None:
        """Records the runs that ended: finished ones settle their events (failures once
        their dead letters are written); abandoned ones leave them uncommitted."""
        while True:
            try:
                group, outcome = self.results.get_nowait()
            except queue.Empty:
                return
            self.running.pop(group.key, None)
            self.record(group, outcome)

    def record(self, group: Group[Work], outcome: Outcome) -> None:
        log.log(
            logging.INFO if outcome.status == "ok" else logging.WARNING,
            "reactor=%s outcome=%s attempts=%d exit_code=%s events=%d action=%s%s",
            self.config.name, outcome.status, outcome.attempts, outcome.exit_code,
            len(group.events), group.work.shown(),
            f" reason={outcome.reason}" if outcome.reason else "",
        )  # fmt: skip
        if outcome.status == "ok":
            self.counts.ran += 1
            for event in group.events:
                self.ledger.finished(event.where, event.offset)
        elif outcome.status == "failed":
            self.counts.failed += 1
            for event in group.events:
                document = self.document(event, group.work, outcome, outcome.reason or "failed")
                self.unwritten.append((event, document))

    def document(
        self, event: Event, work: Work | None, outcome: Outcome | None, reason: str
    ) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "@timestamp": now_utc(),
            "reactor": self.config.name,
            "kafka": {"topic": event.topic, "partition": event.partition, "offset": event.offset},
            "reason": reason,
        }
        if work is not None and work.argv is not None:
            doc["argv"] = list(work.argv)
        if work is not None and work.body is not None:
            doc["target"] = dict(work.body)
        if outcome is not None:
            doc |= {"exit_code": outcome.exit_code, "attempts": outcome.attempts}
            doc["output"] = outcome.output
        return doc

    def write_dead_letters(self) -> None:
        if not self.unwritten:
            return
        batch, self.unwritten = self.unwritten, []
        if self.dead_letters is None:
            for event, _ in batch:
                self.ledger.finished(event.where, event.offset)
            return
        ids = [f"{self.config.name}-{e.topic}-{e.partition}-{e.offset}" for e, _ in batch]
        try:
            self.dead_letters.write([(i, doc) for i, (_, doc) in zip(ids, batch, strict=True)])
        except Exception as exc:  # kept, and their offsets uncommitted, until they are stored
            log.warning(
                "reactor=%s cannot write dead letters, will retry: %s", self.config.name, exc
            )
            self.unwritten = batch + self.unwritten
            return
        for event, _ in batch:
            self.ledger.finished(event.where, event.offset)

    def commit(self, *, blocking: bool = True) -> None:
        if self.dry_run:
            return
        offsets = self.ledger.committable()
        if not offsets:
            return
        try:
            self.source.commit(offsets, blocking=blocking)
        except Exception as exc:  # a failed commit only means a re-run later, never a loss
            log.warning(
                "reactor=%s offset commit failed, will try again: %s", self.config.name, exc
            )
            return
        self.ledger.mark_committed(offsets)

    def busy(self) -> bool:
        """Work not finished: groups waiting or running, dead letters not yet written."""
        return bool(len(self.coalescer) or self.running or self.unwritten)

    def quiet_for(self) -> float:
        return self.clock() - self.last_message

    def drained(self) -> bool:
        try:
            return self.source.drained()
        except Exception:  # not knowing means not drained
            return False

    def close(self, wait: float) -> None:
        """After the actions were told to stop: records what ended within `wait` seconds,
        commits what is finished (never the rest), and leaves the group."""
        deadline = self.clock() + wait
        while self.running and self.clock() < deadline:
            try:
                group, outcome = self.results.get(timeout=0.1)
            except queue.Empty:
                continue
            self.running.pop(group.key, None)
            self.record(group, outcome)
        self.write_dead_letters()
        self.commit()
        self.source.close()
        c = self.counts
        log.info(
            "reactor=%s stopped: read=%d matched=%d ran=%d failed=%d refused=%d unfinished=%d",
            self.config.name, c.read, c.matched, c.ran, c.failed, c.refused, self.ledger.pending(),
        )  # fmt: skip


def run_loops(
    loops: list[ReactorLoop],
    stop: threading.Event,
    *,
    idle_exit: float | None = None,
    on_stop: Callable[[], None] = lambda: None,
    shutdown_wait: float = 10.0,
) -> int:
    """Steps every reactor until `stop` (or, with `idle_exit`, until all are quiet, finished
    and drained); then `on_stop` kills running actions and each loop closes. Exit code 0; an
    error (Kafka unreachable for `kafka.connect_timeout`) is raised after the same clean-up."""
    slice_ = 0.5 / max(1, len(loops))
    try:
        while not stop.is_set():
            for loop in loops:
                loop.step(slice_)
            if idle_exit is not None and all(
                not loop.busy() and loop.quiet_for() >= idle_exit and loop.drained()
                for loop in loops
            ):
                log.info("no new messages for %.0fs and all finished: exiting", idle_exit)
                break
    finally:  # also when Kafka is gone for good: what finished is still committed if it can be
        on_stop()
        for loop in loops:
            try:
                loop.close(shutdown_wait)
            except Exception as exc:  # uncommitted work is read again on the next start
                log.warning("reactor=%s did not close cleanly: %s", loop.config.name, exc)
    return 0


def _format(partitions: set[Partition]) -> str:
    return ",".join(f"{topic}[{partition}]" for topic, partition in sorted(partitions)) or "-"
