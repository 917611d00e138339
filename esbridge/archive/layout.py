"""Names and paths of the archive, and reading them back: pure, so recovery and replay agree.

`<root>/<producer>/year=YYYY/month=MM/day=DD/<topic>+<partition>+<first>+<last>.<ext>` (Spark's
partition discovery reads `year`, `month`, `day` off the folders), temporary files and the
per-partition write-ahead logs under `<root>/_tmp/`, which Spark ignores (a leading `_`).
Kafka topic names cannot contain `+`, so a name splits back into its parts unambiguously.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from pathlib import PurePosixPath

from esbridge.config.archive import ArchiveFormat

TMP_DIR = "_tmp"
EXTENSIONS: dict[ArchiveFormat, str] = {"parquet": "parquet", "jsonl.gz": "jsonl.gz"}
TEMP_SUFFIX = ".tmp"
WAL_SUFFIX = ".wal"

_NAME = re.compile(r"([A-Za-z0-9._-]+)\+(\d+)\+(\d+)\+(\d+)\.(parquet|jsonl\.gz)")
_DAY = re.compile(r"year=(\d{4})/month=(\d{2})/day=(\d{2})")


@dataclass(frozen=True, order=True)
class ArchivedFile:
    """What a committed file's name says: its Kafka partition and the offsets it spans."""

    topic: str
    partition: int
    first: int
    last: int
    extension: str

    @property
    def name(self) -> str:
        return f"{self.topic}+{self.partition}+{self.first}+{self.last}.{self.extension}"


def parse_file_name(name: str) -> ArchivedFile | None:
    """The parts of a committed file's name; None for anything else (temporary files, notes)."""
    match = _NAME.fullmatch(name)
    if match is None:
        return None
    topic, partition, first, last, extension = match.groups()
    if int(first) > int(last):
        return None
    return ArchivedFile(topic, int(partition), int(first), int(last), extension)


def day_dir(producer: str, day: date) -> PurePosixPath:
    """`<producer>/year=YYYY/month=MM/day=DD`, relative to the root."""
    return PurePosixPath(
        producer, f"year={day.year:04d}", f"month={day.month:02d}", f"day={day.day:02d}"
    )


def final_path(producer: str, day: date, archived: ArchivedFile) -> PurePosixPath:
    return day_dir(producer, day) / archived.name


def parse_day_dir(relative: PurePosixPath) -> date | None:
    """The day of `<producer>/year=YYYY/month=MM/day=DD[/...]`; None when it is not one."""
    match = _DAY.match("/".join(relative.parts[1:4]))
    if match is None:
        return None
    try:
        return date(int(match[1]), int(match[2]), int(match[3]))
    except ValueError:
        return None


def partition_prefix(topic: str, partition: int) -> str:
    """How the temporary files and the log of one Kafka partition start, under `_tmp/`."""
    return f"{topic}+{partition}+"


def temp_name(topic: str, partition: int, token: str, extension: str) -> str:
    return f"{partition_prefix(topic, partition)}{token}.{extension}{TEMP_SUFFIX}"


def wal_name(topic: str, partition: int) -> str:
    return f"{partition_prefix(topic, partition)}{WAL_SUFFIX.lstrip('.')}{WAL_SUFFIX}"


def next_offsets(files: list[ArchivedFile]) -> dict[tuple[str, int], int]:
    """Per partition, the offset after the highest one archived: where consuming resumes.

    Right because a partition's buffers are always written together (all its days at once,
    made durable as one step by the write-ahead log), so no offset below the highest archived
    one is missing from the files.
    """
    found: dict[tuple[str, int], int] = {}
    for archived in files:
        key = (archived.topic, archived.partition)
        found[key] = max(found.get(key, 0), archived.last + 1)
    return found
