"""Where each partition resumes, from the archive itself: the files are the truth, the
consumer group's committed offset only a hint (a crash between rename and commit leaves it
behind the files)."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Mapping
from pathlib import Path

from esbridge.archive.layout import (
    TEMP_SUFFIX,
    TMP_DIR,
    ArchivedFile,
    next_offsets,
    parse_file_name,
    partition_prefix,
    wal_name,
)
from esbridge.archive.writer import finish, fsync_dir

log = logging.getLogger("esbridge.archive")

Partition = tuple[str, int]


def scan(root: Path, producer: str) -> list[ArchivedFile]:
    """Every committed file of `producer`, from the names alone."""
    found: list[ArchivedFile] = []
    for _folder, _dirs, names in os.walk(root / producer):
        found.extend(f for f in map(parse_file_name, names) if f is not None)
    return found


def recover(root: Path, partitions: Mapping[Partition, str]) -> dict[Partition, int]:
    """For these partitions (each with its producer): finish interrupted publications, remove
    leftover temporary files, and return where each resumes (absent: nothing archived yet).

    Run when the partitions are assigned, so only their owner touches their files.
    """
    tmp = root / TMP_DIR
    tmp.mkdir(parents=True, exist_ok=True)
    for topic, partition in sorted(partitions):
        log_file = tmp / wal_name(topic, partition)
        if log_file.exists():
            moves = finish(root, log_file)
            log.info(
                "finished an interrupted write of %s[%d]: %d files", topic, partition, len(moves)
            )
        removed = remove_temps(tmp, [partition_prefix(topic, partition)])
        if removed:
            log.info("removed %d leftover temporary files of %s[%d]", removed, topic, partition)
    files = [f for producer in sorted(set(partitions.values())) for f in scan(root, producer)]
    found = next_offsets(files)
    return {p: found[p] for p in partitions if p in found}


def remove_temps(tmp: Path, prefixes: Iterable[str]) -> int:
    starts = tuple(prefixes)
    removed = 0
    for entry in tmp.iterdir():
        if entry.name.startswith(starts) and entry.name.endswith(TEMP_SUFFIX):
            entry.unlink()
            removed += 1
    if removed:
        fsync_dir(tmp)
    return removed
