"""`esbridge replay`: archived raw messages back through today's transforms into an index.

Each archived row is the message as Kafka gave it (`raw` and its coordinates), so replay makes
the `Message` again and hands it to ingest's own encoder and bulk sender: the same ids
(`<topic id>-<partition>-<offset>`, from the archived `kafka.topic_id`), the same dead-letter
rules, the same retries. A replay repeated, or overlapping what ingest stored, answers 409 and
stores nothing twice.
"""

from __future__ import annotations

import gzip
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import date
from pathlib import Path, PurePosixPath

import orjson
import pyarrow.parquet as pq

from esbridge.archive.layout import parse_day_dir, parse_file_name
from esbridge.archive.runner import id_prefix
from esbridge.archive.schema import json_bytes
from esbridge.config import Config, ProducerConfig
from esbridge.ingest.encode import DeadLetterTarget, Route, to_item
from esbridge.ingest.message import Message
from esbridge.ingest.pipeline import BatchBuilder, build_routes
from esbridge.ingest.sender import Sender
from esbridge.utc import now_utc

log = logging.getLogger("esbridge.replay")

COLUMNS = ["kafka.topic", "kafka.partition", "kafka.offset", "kafka.topic_id", "raw"]
PROGRESS_INTERVAL = 2.0


@dataclass(frozen=True)
class DayFile:
    day: date
    path: Path
    rows: int


def day_files(root: Path, producer: str, since: date, until: date) -> list[DayFile]:
    """The producer's archive files of the days `since`..`until` (inclusive), in day order."""
    found: list[DayFile] = []
    base = root / producer
    for folder, _dirs, names in os.walk(base):
        day = parse_day_dir(PurePosixPath(producer, *Path(folder).relative_to(base).parts))
        if day is None or not since <= day <= until:
            continue
        for name in names:
            named = parse_file_name(name)
            if named is not None:
                path = Path(folder) / name
                found.append(DayFile(day, path, count_rows(path)))
    return sorted(found, key=lambda f: (f.day, parse_file_name(f.path.name)))


def count_rows(path: Path) -> int:
    """From the Parquet footer (no data read); JSON lines are counted."""
    if path.name.endswith(".parquet"):
        return int(pq.read_metadata(path).num_rows)
    with gzip.open(path) as lines:
        return sum(1 for _ in lines)


def read_messages(path: Path) -> Iterator[tuple[Message, str | None]]:
    """Each archived row as the message Kafka gave, with its topic id."""
    if path.name.endswith(".parquet"):
        parquet = pq.ParquetFile(path)
        for batch in parquet.iter_batches(columns=COLUMNS, batch_size=4096):
            columns = [batch.column(name).to_pylist() for name in COLUMNS]
            for topic, partition, offset, topic_id, raw in zip(*columns, strict=True):
                yield Message(topic, partition, offset, raw), topic_id
        return
    with gzip.open(path) as lines:
        for line in lines:
            row = orjson.loads(line)
            raw = json_bytes(row, "raw") or b""
            message = Message(row["kafka.topic"], row["kafka.partition"], row["kafka.offset"], raw)
            yield message, row.get("kafka.topic_id")


@dataclass
class ReplayStats:
    total: int
    read: int = 0
    indexed: int = 0
    dead_letters: int = 0
    duplicates: int = 0
    collisions: int = 0

    def progress(self, elapsed: float) -> str:
        rate = self.read / elapsed if elapsed > 0 else 0.0
        left = self.total - self.read
        eta = f"{left / rate:.0f}s" if rate > 0 else "?"
        share = 100 * self.read / self.total if self.total else 100.0
        return (
            f"replay: {self.read}/{self.total} records ({share:.0f}%), "
            f"{rate:.0f} records/s, ETA {eta}"
        )

    def summary(self) -> str:
        return (
            f"replay summary: records={self.read} indexed={self.indexed} "
            f"dead_letters={self.dead_letters} duplicates={self.duplicates} "
            f"collisions={self.collisions}"
        )


class Replay:
    """Feeds archived messages to ingest's encoder and a `Sender` (the bulk sender in use)."""

    def __init__(
        self,
        config: Config,
        producer: ProducerConfig,
        index: str,
        sender: Sender,
        *,
        require_alias: bool,
        progress: Callable[[str], None],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        (topic, *_) = producer.topics
        self.base: Route = replace(
            build_routes(config)[topic], index=index, require_alias=require_alias
        )
        self.routes: dict[tuple[str, str | None], Route] = {}
        self.target = DeadLetterTarget(config.deadletter.index, config.deadletter.payload_max_bytes)
        tuning = config.ingest
        self.builder = BatchBuilder(
            tuning.batch_max_docs, tuning.batch_max_bytes, tuning.flush_interval, clock
        )
        self.max_buffered = tuning.max_buffered_bytes
        self.sender = sender
        self.progress = progress
        self.clock = clock
        self.stop = threading.Event()

    def route(self, topic: str, topic_id: str | None) -> Route:
        """The producer's route under the id prefix ingest gave this topic's records."""
        key = (topic, topic_id)
        found = self.routes.get(key)
        if found is None:
            found = self.routes[key] = replace(self.base, id_prefix=id_prefix(topic, topic_id))
        return found

    def run(self, files: list[DayFile], shutdown_timeout: float = 60.0) -> tuple[bool, ReplayStats]:
        """Sends every record of `files`; True when all of them are settled."""
        stats = ReplayStats(sum(f.rows for f in files))
        started = last = self.clock()
        for message, topic_id in self.messages(files):
            route = self.route(message.topic, topic_id)
            self.builder.add(to_item(message, route, self.target, now_utc()))
            stats.read += 1
            if self.builder.ready():
                self.submit(stats)
            if self.clock() - last >= PROGRESS_INTERVAL:
                last = self.clock()
                self.progress(stats.progress(last - started))
        if self.builder.items:
            self.sender.submit(self.builder.take())
        settled = self.sender.close(shutdown_timeout)
        self.count(stats)
        self.progress(stats.progress(self.clock() - started))
        return settled and self.sender.failure is None and not self.stop.is_set(), stats

    def messages(self, files: list[DayFile]) -> Iterator[tuple[Message, str | None]]:
        """The files' messages until stopped (SIGTERM) or the sender gave up."""
        for day_file in files:
            for found in read_messages(day_file.path):
                if self.stop.is_set() or self.sender.failure is not None:
                    return
                yield found

    def submit(self, stats: ReplayStats) -> None:
        """Hands a batch over, waiting while too much is unsettled (as ingest pauses Kafka)."""
        self.sender.submit(self.builder.take())
        self.count(stats)
        while self.sender.backlog_bytes >= self.max_buffered and self.sender.failure is None:
            time.sleep(0.05)
            self.count(stats)

    def count(self, stats: ReplayStats) -> None:
        for result in self.sender.results():
            stats.indexed += result.indexed
            stats.dead_letters += result.dead_letters
            stats.duplicates += result.duplicates
            stats.collisions += result.collisions
