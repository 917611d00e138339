"""`esbridge ingest`: Kafka -> decode -> validate/transform -> bulk -> commit.

The main thread polls Kafka, turns messages into bulk items and commits offsets; sender
threads (`ingest.max_in_flight`) talk to Elasticsearch. Offsets are committed only for batches
the senders have settled, in order, so a crash at any moment loses nothing: the uncommitted
tail is read again, and deterministic ids turn the repeats into 409s instead of copies (a 409
counts as a replay only when the stored record has the same content hash).
"""

from __future__ import annotations

import logging
import threading
import time
from bisect import bisect_left
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from itertools import accumulate, repeat
from operator import add, attrgetter, itemgetter

from esbridge.cluster.search import SearchCluster
from esbridge.config import Config
from esbridge.errors import EsbridgeError
from esbridge.ingest.encode import BulkItem, DeadLetterTarget, Route
from esbridge.ingest.engine import select_encoder
from esbridge.ingest.kafka import KafkaUnavailableError, Partition, Source, open_source
from esbridge.ingest.message import Message
from esbridge.ingest.sender import Batch, BatchResult, BulkSender, Sender
from esbridge.ingest.stats import SendCounters, Stats
from esbridge.metrics.ingest import IngestMetrics
from esbridge.transforms import PARSERS, ParseContext
from esbridge.utc import now_utc

log = logging.getLogger("esbridge.ingest")

POLL_SLICE = 0.5
TOPIC_PARTITION = itemgetter(0, 1)
"""A `Message`'s (topic, partition), read in C (it is a NamedTuple)."""
OFFSET = itemgetter(2)
LINE, MESSAGE = attrgetter("line"), attrgetter("message")


@dataclass(frozen=True)
class RunLimits:
    idle_exit: float | None = None
    max_messages: int | None = None
    shutdown_timeout: float = 30.0


ID_PREFIX_CHARS = 8
"""Of the topic id's 22 base64url characters (as `kafka-topics --describe` shows it): 48 bits,
so two incarnations of a topic share a prefix with a chance of 2**-48, and even then the content
hash on each 409 tells their records apart."""


def build_routes(config: Config) -> dict[str, Route]:
    """Topic -> how its messages become documents; ids start with the topic name until
    `Pipeline.learn_topic_ids` knows the topic's id."""
    routes: dict[str, Route] = {}
    for producer in config.producers:
        route = Route(
            producer=producer.name,
            index=producer.index,
            parser=PARSERS[producer.parser],
            context=ParseContext(
                producer=producer.name,
                log_timezone=config.log_timezone,
                dcache_instance=config.dcache_instance,
            ),
            mandatory=tuple(tuple(path.split(".")) for path in producer.mandatory_fields),
            deterministic_ids=producer.id_strategy == "offset",
            max_message_bytes=config.ingest.max_message_bytes,
            original_max_bytes=config.ingest.original_max_bytes,
            id_prefix="",
            event_original=producer.keeps_original,
        )
        routes.update({topic: replace(route, id_prefix=topic) for topic in producer.topics})
    return routes


@dataclass
class BatchBuilder:
    max_docs: int
    max_bytes: int
    max_age: float
    clock: Callable[[], float] = time.monotonic
    items: list[BulkItem] = field(default_factory=list)
    nbytes: int = 0
    offsets: dict[Partition, int] = field(default_factory=dict)
    opened: float = 0.0

    def add(self, item: BulkItem) -> None:
        if not self.items:
            self.opened = self.clock()
        self.items.append(item)
        self.nbytes += len(item.line)
        message = item.message
        self.offsets[(message.topic, message.partition)] = message.offset + 1

    def fill(self, items: list[BulkItem]) -> list[BulkItem]:
        """`add` for each of `items` until the batch is full; returns the ones left over.

        The same batches as `add` one by one with `full` after each (the item that crosses
        `max_bytes` is in), in C-level steps rather than a Python call per message.
        """
        if not items:
            return items
        if not self.items:
            self.opened = self.clock()
        take = items[: max(1, self.max_docs - len(self.items))]
        sizes = list(accumulate(map(len, map(LINE, take)), initial=self.nbytes))
        cut = min(bisect_left(sizes, self.max_bytes, lo=1), len(take))
        take = take[:cut]
        self.items.extend(take)
        self.nbytes = sizes[cut]
        messages = list(map(MESSAGE, take))
        after = map(add, map(OFFSET, messages), repeat(1))  # last offset + 1, the commit's
        self.offsets.update(zip(map(TOPIC_PARTITION, messages), after, strict=True))
        return items[cut:]

    def full(self) -> bool:
        """At the size limits: checked after every item (no clock read per message)."""
        return len(self.items) >= self.max_docs or self.nbytes >= self.max_bytes

    def ready(self) -> bool:
        """Full, or open for `max_age`: checked once per poll."""
        return bool(self.items) and (self.full() or self.clock() - self.opened >= self.max_age)

    def take(self) -> Batch:
        batch = Batch(self.items, self.nbytes, self.offsets)
        self.items, self.nbytes, self.offsets = [], 0, {}
        return batch


class Pipeline:
    """The ingest loop over two seams: a Kafka `Source` and a `Sender` of bulk batches.

    Both are parameters (`open_pipeline` builds the real ones), so the ordering, revoke and
    backpressure rules are tested with small fakes as well as against the real servers.
    """

    def __init__(
        self,
        config: Config,
        source: Source,
        sender: Sender,
        limits: RunLimits,
        clock: Callable[[], float] = time.monotonic,
        metrics: IngestMetrics | None = None,
    ) -> None:
        self.config = config
        self.limits = limits
        self.clock = clock
        self.routes = build_routes(config)
        self.target = dead_letter_target(config)
        self.encoder = select_encoder(config)
        tuning = config.ingest
        self.builder = BatchBuilder(
            tuning.batch_max_docs, tuning.batch_max_bytes, tuning.flush_interval, clock
        )
        self.sender = sender
        self.stats = Stats(clock, retries=sender.counters)
        self.metrics = metrics
        self.stop = threading.Event()
        self.requested = False
        """True once SIGTERM/SIGINT asked for the stop (`request_stop`), not a limit or an error."""
        self.assigned: set[Partition] = set()
        self.settled: dict[Partition, int] = {}
        self.committed: dict[Partition, int] = {}
        self.fatal: EsbridgeError | None = None
        self.source = source
        source.subscribe(config.all_topics(), self.on_revoked, self.on_assigned)

    def on_assigned(self, partitions: set[Partition]) -> None:
        self.assigned |= partitions
        log.info("partitions assigned: %s", format_partitions(partitions))
        self.learn_topic_ids({topic for topic, _ in partitions})

    def learn_topic_ids(self, topics: set[str]) -> None:
        """Ids start with the topic's Kafka id, learned here once per assignment (never per
        message), before the client hands out the assigned partitions' messages.

        A topic deleted and re-created, or another cluster's topic of the same name, has
        another id, so its offsets never reuse an id. If the lookup fails the run stops:
        ids must not change between runs, or a replay would store copies.
        """
        try:
            ids = self.source.topic_ids(topics)
        except Exception as exc:  # stop rather than index under ids that a restart changes
            self.fatal = EsbridgeError(
                f"cannot learn the Kafka topic id of {', '.join(sorted(topics))} ({exc}); "
                "stopping without committing what is not in Elasticsearch"
            )
            self.stop.set()
            return
        for topic in topics & self.routes.keys():
            topic_id = ids.get(topic)
            if topic_id is None:
                log.warning("topic %s has no topic id (Kafka before 2.8?): ids use its name", topic)
            prefix = topic_id[:ID_PREFIX_CHARS] if topic_id else topic
            if prefix != self.routes[topic].id_prefix:
                self.routes[topic] = replace(self.routes[topic], id_prefix=prefix)

    def on_revoked(self, partitions: set[Partition]) -> None:
        """Commits what is settled before another member takes the partitions over.

        The client calls this on its network thread, where nothing may block: batches still in
        flight are not waited for. Their offsets stay uncommitted, so the next owner reads them
        again and the deterministic ids make that re-read a no-op.
        """
        log.info("partitions revoked: %s", format_partitions(partitions))
        self.commit_settled(blocking=False)
        self.assigned -= partitions
        for partition in partitions:
            self.settled.pop(partition, None)
            self.committed.pop(partition, None)

    def commit_settled(self, *, blocking: bool = True) -> None:
        """Commits, per owned partition, the offset after the last settled batch."""
        self.publish_sends()
        for result in self.sender.results():
            self.count(result)
            for partition, offset in result.offsets.items():
                if partition in self.assigned:
                    self.settled[partition] = max(offset, self.settled.get(partition, 0))
        offsets = {
            partition: offset
            for partition, offset in self.settled.items()
            if offset > self.committed.get(partition, -1)
        }
        if not offsets:
            return
        try:
            self.source.commit(offsets, blocking=blocking)
        except Exception as exc:  # a failed commit only means a re-read later, never a loss
            log.warning("offset commit failed, will try again: %s", exc)
            return
        self.committed.update(offsets)
        if self.metrics is not None:
            self.metrics.committed(offsets)

    def count(self, result: BatchResult) -> None:
        self.stats.count(result.indexed, result.dead_letters, result.duplicates, result.collisions)
        if self.metrics is not None:
            self.metrics.settled(result.tally)

    def publish_sends(self) -> None:
        """The sender threads' request times since the last loop, to the metrics (retries are
        read from the same counters at each scrape)."""
        if self.metrics is not None:
            self.metrics.requests(self.sender.counters.drain())

    def submit(self) -> None:
        batch = self.builder.take()
        if self.metrics is not None:
            self.metrics.batch(len(batch.items), batch.nbytes)
        self.sender.submit(batch)

    def backpressure(self) -> bool:
        return (
            self.sender.retrying()
            or self.sender.backlog_bytes >= self.config.ingest.max_buffered_bytes
        )

    def request_stop(self) -> None:
        """A person or systemd asked for the stop: unsettled messages then end it with exit 0."""
        self.requested = True
        self.stop.set()

    def run(self) -> int:
        """Runs until stopped, idle or at the message limit; returns the process exit code."""
        topics = ", ".join(self.config.all_topics())
        log.info("ingest started: topics=%s group=%s", topics, self.config.kafka.group_id)
        last_message = self.clock()
        last_stats = self.clock()
        while not self.stop.is_set() and self.sender.failure is None:
            self.commit_settled()
            paused = self.backpressure()
            if paused:
                self.source.pause()  # poll() below then only keeps the group membership alive
            else:
                self.source.resume()
            if self.metrics is not None:
                self.metrics.paused(paused, self.sender.backlog_bytes)
            messages = self.poll()
            if messages:
                last_message = self.clock()
                self.handle(messages)
            if self.builder.ready():
                self.submit()
            now = self.clock()
            if now - last_stats >= self.config.ingest.stats_interval:
                last_stats = now
                self.log_stats()
            if self.idle_for(now - last_message):
                log.info("no new messages for %.0fs and all settled: exiting", now - last_message)
                break
        return self.shutdown()

    def poll(self) -> list[Message]:
        limit = self.config.ingest.batch_max_docs
        if self.limits.max_messages is not None:
            limit = min(limit, self.limits.max_messages - self.stats.consumed)
        try:
            messages = self.source.poll(POLL_SLICE, limit)
        except KafkaUnavailableError as exc:  # what is settled is still committed on the way out
            self.fatal = self.fatal or exc
            self.stop.set()
            return []
        if (
            self.limits.max_messages is not None
            and self.stats.consumed + len(messages) >= self.limits.max_messages
        ):
            self.stop.set()
        return messages

    def handle(self, messages: list[Message]) -> None:
        if self.fatal is not None:  # their ids are not known: they stay uncommitted
            return
        ingested = now_utc()
        items = self.encoder.items(messages, self.routes, self.target, ingested)
        while items:
            items = self.builder.fill(items)
            if self.builder.full():
                self.submit()
        self.stats.read(len(messages))
        if self.metrics is not None:
            self.metrics.polled(self.per_partition(messages))

    def per_partition(self, messages: list[Message]) -> dict[tuple[str, str, int], int]:
        """A poll's messages per (producer, topic, partition): one pass, for the metrics."""
        counts = Counter(map(TOPIC_PARTITION, messages))
        return {
            (self.routes[topic].producer, topic, partition): count
            for (topic, partition), count in counts.items()
        }

    def idle_for(self, seconds: float) -> bool:
        """`--idle-exit`: quiet for long enough, everything settled, and the topics drained."""
        if self.limits.idle_exit is None or seconds < self.limits.idle_exit:
            return False
        if self.builder.items:
            self.submit()
        if not self.sender.idle():
            return False
        try:
            return self.source.drained()
        except Exception as exc:  # not knowing means not drained
            log.debug("cannot tell whether the topics are drained: %s", exc)
            return False

    def safe_lag(self) -> dict[Partition, int] | None:
        """Per owned partition, the broker's end offset minus the committed offset."""
        try:
            return self.source.lag(self.committed)
        except Exception as exc:  # lag is informational; never let it stop ingestion
            log.debug("cannot read the lag: %s", exc)
            return None

    def log_stats(self) -> None:
        lags = self.safe_lag()
        if self.metrics is not None:
            self.metrics.lag(lags)
        line, fields = self.stats.interval(None if lags is None else sum(lags.values()))
        log.info("%s", line, extra={"fields": fields})

    def shutdown(self) -> int:
        """Flush, settle, commit, close; exit 1 if something is left unsettled, unless requested."""
        if self.builder.items:
            self.submit()
        settled = self.sender.close(self.limits.shutdown_timeout)
        self.commit_settled()
        self.source.close()
        self.publish_sends()
        line, fields = self.stats.summary()
        log.info("%s", line, extra={"fields": fields})
        failure = self.fatal or self.sender.failure
        if isinstance(failure, EsbridgeError):
            log.error("%s", failure)
            return failure.exit_code
        if failure is not None:
            log.error("stopped on an unexpected error: %s", failure)
            return 1
        if not settled:
            # Nothing is lost either way: what is unsettled stays uncommitted. A requested stop
            # is a clean stop (exit 0, systemd does not mark the unit failed); a run that ended
            # on its own limits reports it to the script that started it.
            (log.warning if self.requested else log.error)(
                "Elasticsearch did not settle everything within %.0fs; the uncommitted messages "
                "will be read again on the next start",
                self.limits.shutdown_timeout,
            )
            return 0 if self.requested else 1
        return 0


def dead_letter_target(config: Config) -> DeadLetterTarget:
    return DeadLetterTarget(config.deadletter.index, config.deadletter.payload_max_bytes)


def open_sender(
    config: Config, cluster: SearchCluster, counters: SendCounters | None = None
) -> BulkSender:
    """The bulk sender `ingest.*` describes, writing to `cluster`; ingest's and replay's."""
    tuning = config.ingest
    return BulkSender(
        cluster,
        dead_letter_target(config),
        tuning.retry_initial_backoff,
        tuning.retry_max_backoff,
        workers=tuning.max_in_flight,
        auth_failure_timeout=tuning.auth_failure_timeout,
        endpoint=cluster.where,
        counters=counters,
    )


def open_pipeline(
    config: Config,
    cluster: SearchCluster,
    limits: RunLimits,
    metrics: IngestMetrics | None = None,
    counters: SendCounters | None = None,
) -> Pipeline:
    """The pipeline over the real seams: `kafka.backend`'s consumer and the bulk sender
    writing to `cluster` (connected by the caller, who closes it)."""
    tuning = config.ingest
    sender = open_sender(config, cluster, counters)
    source = open_source(config.kafka, tuning.batch_max_docs)
    return Pipeline(config, source, sender, limits, metrics=metrics)


def format_partitions(partitions: set[Partition]) -> str:
    return ",".join(f"{topic}[{partition}]" for topic, partition in sorted(partitions)) or "-"
