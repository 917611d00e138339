"""`esbridge archive`: the consumer loop that turns every Kafka message into one archived row.

Each assigned partition has one buffer per day (the record's event day in UTC). When any of a
partition's buffers is due (its raw bytes reach `roll_size`, or its oldest record waited
`roll_interval`), all of that partition's buffers are written together, made durable as one
step (`writer.publish`), and only then is the partition's offset committed. On assignment the
partition resumes after the highest offset its file names hold (`recovery.recover`), so a crash
anywhere neither loses nor repeats a record. Kafka is a `Source` parameter, the clocks too.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path

from esbridge.archive.layout import EXTENSIONS, ArchivedFile, final_path
from esbridge.archive.recovery import Partition, recover
from esbridge.archive.schema import ProducerSchema, event_time
from esbridge.archive.writer import Move, encode_rows, publish, write_temp
from esbridge.config import Config
from esbridge.config.archive import ArchiveConfig
from esbridge.errors import EsbridgeError
from esbridge.ingest.encode import Route, content_hash, document
from esbridge.ingest.kafka import KafkaUnavailableError, Source, open_source
from esbridge.ingest.message import Message
from esbridge.ingest.pipeline import ID_PREFIX_CHARS, build_routes, format_partitions
from esbridge.transforms import ParseError
from esbridge.utc import format_utc

log = logging.getLogger("esbridge.archive")

POLL_SLICE = 0.5
MAX_POLL_RECORDS = 2000


@dataclass(frozen=True)
class ArchiveLimits:
    idle_exit: float | None = None
    crash_after_rename: int | None = None
    """Test hook (`--crash-after-rename N`): SIGKILL itself right after the Nth publication is
    in place and before its offsets are committed, the moment recovery exists for."""


@dataclass
class DayBuffer:
    """The rows of one partition and one day not yet written."""

    opened: float
    rows: list[dict[str, object]] = field(default_factory=list)
    extras: set[str] = field(default_factory=set)
    nbytes: int = 0
    first: int = -1
    last: int = -1


@dataclass(frozen=True)
class RollPolicy:
    roll_size: int
    roll_interval: float

    def due(self, buffers: dict[date, DayBuffer], now: float) -> bool:
        """Whether a partition's buffers are to be written: any one is big or old enough."""
        return any(
            b.nbytes >= self.roll_size or now - b.opened >= self.roll_interval
            for b in buffers.values()
        )


@dataclass
class ArchiveStats:
    consumed: int = 0
    archived: int = 0
    unparsed: int = 0
    files: int = 0
    skipped: int = 0
    """Messages below a partition's recovered offset: already in the archive."""
    buffered: int = 0
    """Records read and not yet in a file, as of the last step (read by /metrics)."""

    def line(self, buffered: int) -> str:
        return (
            f"archive stats: consumed={self.consumed} archived={self.archived} "
            f"unparsed={self.unparsed} files={self.files} skipped={self.skipped} "
            f"buffered={buffered}"
        )


def archive_section(config: Config) -> ArchiveConfig:
    if config.archive is None:
        raise EsbridgeError("the config has no archive: section (see examples/dcache.yml)")
    return config.archive


class Archiver:
    def __init__(
        self,
        config: Config,
        source: Source,
        limits: ArchiveLimits,
        clock: Callable[[], float] = time.monotonic,
        wallclock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.config = config
        self.settings = archive_section(config)
        self.root = Path(self.settings.root)
        self.extension = EXTENSIONS[self.settings.format]
        self.limits = limits
        self.clock = clock
        self.wallclock = wallclock
        self.policy = RollPolicy(self.settings.roll_size, self.settings.roll_interval)
        self.routes: dict[str, Route] = build_routes(config)
        self.schemas = {p.name: ProducerSchema.of(config, p) for p in config.producers}
        self.buffers: dict[Partition, dict[date, DayBuffer]] = {}
        self.floor: dict[Partition, int] = {}
        self.topic_ids: dict[str, str | None] = {}
        self.to_commit: dict[Partition, int] = {}
        self.stats = ArchiveStats()
        self.publications = 0
        self.last_message = self.last_stats = clock()
        self.stop = threading.Event()
        self.fatal: EsbridgeError | None = None
        self.source = source
        source.subscribe(config.all_topics(), self.on_revoked, self.on_assigned)

    def on_assigned(self, partitions: set[Partition]) -> None:
        """Learns topic ids, finishes what a crash left, and resumes after the archive's end."""
        log.info("partitions assigned: %s", format_partitions(partitions))
        topics = {topic for topic, _ in partitions}
        try:
            ids = self.source.topic_ids(topics)
            owners = {p: self.config.producer_for_topic(p[0]).name for p in partitions}
            recovered = recover(self.root, owners)
        except Exception as exc:  # never archive under a wrong id or past a gap: stop instead
            self.fatal = EsbridgeError(
                f"cannot take over {format_partitions(partitions)} ({exc}); stopping"
            )
            self.stop.set()
            return
        for topic in topics:
            self.topic_ids[topic] = ids.get(topic)
        if recovered:
            log.info("resuming from the archive's files: %s", _offsets(recovered))
            self.source.seek(recovered)
            self.to_commit.update(recovered)
        for partition in partitions:
            self.floor[partition] = recovered.get(partition, 0)

    def on_revoked(self, partitions: set[Partition]) -> None:
        """Drops what was not written: uncommitted, so the next owner reads it again."""
        log.info("partitions revoked: %s", format_partitions(partitions))
        for partition in partitions:
            self.buffers.pop(partition, None)
            self.floor.pop(partition, None)
            self.to_commit.pop(partition, None)

    def run(self) -> int:
        log.info(
            "archive started: topics=%s group=%s root=%s format=%s",
            ", ".join(self.config.all_topics()),
            self.settings.group_id,
            self.root,
            self.settings.format,
        )
        self.last_message = self.last_stats = self.clock()
        while not self.stop.is_set() and self.step():
            pass
        return self.shutdown()

    def step(self) -> bool:
        """One poll and what follows from it; False when the run is to end."""
        self.commit()
        try:
            messages = self.source.poll(POLL_SLICE, MAX_POLL_RECORDS)
        except KafkaUnavailableError as exc:
            self.fatal = self.fatal or exc
            return False
        if self.fatal is not None:
            return False
        now = self.clock()
        if messages:
            self.last_message = now
            for message in messages:
                self.add(message)
        for partition in [p for p, b in self.buffers.items() if self.policy.due(b, now)]:
            self.flush(partition)
        self.stats.buffered = self.buffered()
        if now - self.last_stats >= self.settings.stats_interval:
            self.last_stats = now
            log.info(self.stats.line(self.buffered()))
        quiet = now - self.last_message
        if self.idle(quiet):
            log.info("no new messages for %.0fs and all archived: exiting", quiet)
            return False
        return True

    def add(self, message: Message) -> None:
        partition = (message.topic, message.partition)
        self.stats.consumed += 1
        if partition not in self.floor or message.offset < self.floor[partition]:
            self.stats.skipped += 1  # archived already (or no longer ours)
            return
        route = self.routes[message.topic]
        doc: dict[str, object] | None = None
        error: tuple[str, str] | None = None
        try:
            doc = document(
                message, route, format_utc(self.wallclock()), content_hash(message.value)
            )
        except ParseError as exc:
            error = (exc.error_type, exc.reason)
            self.stats.unparsed += 1
        moment = event_time(doc)
        day = self.day_of(moment, message)
        schema = self.schemas[route.producer]
        row = schema.row(message, self.topic_ids.get(message.topic), doc, error, moment)
        days = self.buffers.setdefault(partition, {})
        buffer = days.get(day)
        if buffer is None:
            buffer = days[day] = DayBuffer(self.clock(), first=message.offset)
        buffer.rows.append(row.values)
        buffer.extras |= row.extras
        buffer.nbytes += len(message.value or b"")
        buffer.last = message.offset
        self.floor[partition] = message.offset + 1

    def day_of(self, moment: datetime | None, message: Message) -> date:
        """The event's day in UTC; else the Kafka timestamp's; else today's."""
        if moment is not None:
            return moment.astimezone(UTC).date()
        if message.timestamp is not None:
            return datetime.fromtimestamp(message.timestamp / 1000, UTC).date()
        return self.wallclock().astimezone(UTC).date()

    def flush(self, partition: Partition) -> None:
        """Writes every day of `partition`, puts the files in place as one step, then commits."""
        days = self.buffers.pop(partition, None)
        if not days:
            return
        topic, number = partition
        producer = self.config.producer_for_topic(topic).name
        schema = self.schemas[producer]
        try:
            moves = []
            for day, buffer in sorted(days.items()):
                write = encode_rows(self.settings.format, schema.arrow(buffer.extras), buffer.rows)
                temp = write_temp(self.root, topic, number, self.extension, write)
                named = ArchivedFile(topic, number, buffer.first, buffer.last, self.extension)
                moves.append(Move(temp, final_path(producer, day, named)))
            publish(self.root, topic, number, moves)
        except OSError as exc:  # nothing committed: the next start reads these records again
            self.fatal = EsbridgeError(f"cannot write the archive under {self.root}: {exc}")
            self.stop.set()
            self.floor.pop(partition, None)  # what follows must not be archived past the gap
            return
        records = sum(len(b.rows) for b in days.values())
        last = max(b.last for b in days.values())
        self.stats.archived += records
        self.stats.files += len(moves)
        log.info(
            "archived %s[%d] up to offset %d: %d records in %d files (%s)",
            topic,
            number,
            last,
            records,
            len(moves),
            ", ".join(str(m.final) for m in moves),
        )
        self.publications += 1
        if self.limits.crash_after_rename == self.publications:
            os.kill(os.getpid(), signal.SIGKILL)
        self.to_commit[partition] = last + 1
        self.commit()

    def commit(self) -> None:
        """Commits offsets the files already hold; a failure only delays it (the files, not
        the group, say where a partition resumes)."""
        if not self.to_commit:
            return
        offsets = dict(self.to_commit)
        try:
            self.source.commit(offsets)
        except Exception as exc:
            log.warning("offset commit failed, will try again: %s", exc)
            return
        for partition, offset in offsets.items():
            if self.to_commit.get(partition) == offset:
                del self.to_commit[partition]

    def buffered(self) -> int:
        return sum(len(b.rows) for days in self.buffers.values() for b in days.values())

    def idle(self, seconds: float) -> bool:
        if self.limits.idle_exit is None or seconds < self.limits.idle_exit:
            return False
        for partition in list(self.buffers):
            self.flush(partition)
        self.commit()
        if self.to_commit:
            return False
        try:
            return self.source.drained()
        except Exception as exc:  # not knowing means not drained
            log.debug("cannot tell whether the topics are drained: %s", exc)
            return False

    def shutdown(self) -> int:
        """Writes what is buffered (unless a failure stopped the run), commits, closes."""
        if self.fatal is None:
            for partition in list(self.buffers):
                self.flush(partition)
        self.commit()
        self.source.close()
        log.info("archive summary: %s", self.stats.line(self.buffered()).split(": ", 1)[1])
        if self.fatal is not None:
            log.error("%s", self.fatal)
            return self.fatal.exit_code
        return 0


def open_archiver(config: Config, limits: ArchiveLimits) -> Archiver:
    """The archiver over the real Kafka consumer, in the archive's own consumer group."""
    settings = archive_section(config)
    root = Path(settings.root)
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise EsbridgeError(f"archive.root {root}: cannot create it ({exc.strerror})") from None
    if not os.access(root, os.W_OK | os.X_OK):
        raise EsbridgeError(f"archive.root {root}: not writable by this user")
    kafka = config.kafka.model_copy(update={"group_id": settings.group_id})
    return Archiver(config, open_source(kafka, MAX_POLL_RECORDS), limits)


def id_prefix(topic: str, topic_id: str | None) -> str:
    """How ingest starts the ids of `topic` (pipeline.learn_topic_ids), for replay."""
    return topic_id[:ID_PREFIX_CHARS] if topic_id else topic


def _offsets(offsets: dict[Partition, int]) -> str:
    return ",".join(f"{t}[{p}]@{o}" for (t, p), o in sorted(offsets.items()))
