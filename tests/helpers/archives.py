"""Reading an archive back as the tests check it, and Kafka topics with several partitions."""

from __future__ import annotations

import gzip
from collections import defaultdict
from pathlib import Path
from typing import Any

import orjson
import pyarrow.parquet as pq
from kafka import KafkaAdminClient, KafkaConsumer, TopicPartition
from kafka.admin import NewTopic

from esbridge.archive.layout import TMP_DIR, parse_day_dir, parse_file_name


def create_topics(bootstrap: str, topics: list[str], partitions: int) -> None:
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        admin.create_topics([NewTopic(t, partitions, 1) for t in topics])
    finally:
        admin.close()


def end_offsets(bootstrap: str, topic: str) -> dict[int, int]:
    consumer = KafkaConsumer(bootstrap_servers=bootstrap)
    try:
        parts = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic))]
        return {tp.partition: end for tp, end in consumer.end_offsets(parts).items()}
    finally:
        consumer.close()


def read_rows(path: Path, columns: list[str] | None = None) -> list[dict[str, Any]]:
    """The rows of one archive file, Parquet or JSON lines gz."""
    if path.name.endswith(".parquet"):
        return pq.read_table(path, columns=columns).to_pylist()  # type: ignore[no-any-return]
    with gzip.open(path) as lines:
        return [orjson.loads(line) for line in lines]


def archived_files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file() and parse_file_name(p.name))


def offsets_by_partition(root: Path) -> dict[tuple[str, int], list[int]]:
    """Every archived offset of every partition (with repeats, if any), checking on the way
    that each file's name and folder tell the truth about its rows."""
    found: dict[tuple[str, int], list[int]] = defaultdict(list)
    for path in archived_files(root):
        named = parse_file_name(path.name)
        assert named is not None
        rows = read_rows(path, ["kafka.topic", "kafka.partition", "kafka.offset"])
        offsets = [row["kafka.offset"] for row in rows]
        assert {(r["kafka.topic"], r["kafka.partition"]) for r in rows} == {
            (named.topic, named.partition)
        }
        assert (min(offsets), max(offsets)) == (named.first, named.last), path
        assert parse_day_dir(path.parent.relative_to(root)) is not None, path
        found[(named.topic, named.partition)].extend(offsets)
    return found


def leftovers(root: Path) -> list[str]:
    """What is left in the archive's `_tmp/` (temporary files, write-ahead logs)."""
    tmp = root / TMP_DIR
    return sorted(p.name for p in tmp.iterdir()) if tmp.is_dir() else []
