"""Files that are either whole or absent: temporary name, fsync, rename, fsync of the folder.

A partition's buffers (one per day) become several files at once. Renaming them one by one
could leave only some in place after a crash, and the next start, which resumes after the
highest offset in the names, would skip the records of the missing ones. So the renames are
first written to a per-partition write-ahead log (as Kafka Connect's HDFS sink does): once the
log is durable the whole set counts as written, and a start finishes the renames it lists.
"""

from __future__ import annotations

import gzip
import os
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO

import orjson
import pyarrow as pa
import pyarrow.parquet as pq

from esbridge.archive.layout import TMP_DIR, temp_name, wal_name
from esbridge.archive.schema import BASE_NAMES, json_cells
from esbridge.config.archive import ArchiveFormat

PARQUET_COMPRESSION = "zstd"
PARQUET_COMPRESSION_LEVEL = 9
"""Measured on simulated billing (docs/archive.md, Sizing): 298 bytes/message at zstd's default
level 3, 239 at 9, for little extra CPU; readers do not care about the level."""


@dataclass(frozen=True)
class Move:
    """One temporary file and where it goes, both relative to the archive's root."""

    temp: PurePosixPath
    final: PurePosixPath


def fsync_dir(path: Path) -> None:
    """Makes a rename or removal in `path` durable (a file's own fsync does not)."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_durably(path: Path, write: Callable[[IO[bytes]], None]) -> None:
    """`path` written by `write`, flushed and fsynced before it is closed."""
    with path.open("xb") as handle:
        write(handle)
        handle.flush()
        os.fsync(handle.fileno())


def encode_rows(
    fmt: ArchiveFormat, schema: pa.Schema, rows: Sequence[dict[str, object]]
) -> Callable[[IO[bytes]], None]:
    """What writes `rows` to an open file in `fmt`."""
    if fmt == "parquet":
        table = arrow_table(schema, rows)

        def write_parquet(handle: IO[bytes]) -> None:
            pq.write_table(
                table,
                handle,
                compression=PARQUET_COMPRESSION,
                compression_level=PARQUET_COMPRESSION_LEVEL,
            )

        return write_parquet

    def write_jsonl(handle: IO[bytes]) -> None:
        with gzip.GzipFile(fileobj=handle, mode="wb", mtime=0) as gz:
            for row in rows:
                gz.write(orjson.dumps(json_cells(row)) + b"\n")

    return write_jsonl


ARROW_ERRORS = (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError, TypeError, ValueError)


def arrow_table(schema: pa.Schema, rows: Sequence[dict[str, object]]) -> pa.Table:
    """The rows as a table; a row whose values the schema cannot hold keeps only its base
    columns and says why, as ingest dead-letters a document it cannot serialise."""
    try:
        return pa.Table.from_pylist(list(rows), schema=schema)
    except ARROW_ERRORS:
        return pa.Table.from_pylist([storable(schema, row) for row in rows], schema=schema)


def storable(schema: pa.Schema, row: dict[str, object]) -> dict[str, object]:
    try:
        pa.Table.from_pylist([row], schema=schema)
    except ARROW_ERRORS as exc:
        kept = {name: row.get(name) for name in BASE_NAMES}
        kept["error.type"] = "parse_error"
        kept["error.message"] = f"not storable in the archive's schema: {exc}"
        return kept
    return row


def write_temp(
    root: Path, topic: str, partition: int, extension: str, write: Callable[[IO[bytes]], None]
) -> PurePosixPath:
    """A new durable temporary file under `<root>/_tmp/`; returns its path relative to root."""
    relative = PurePosixPath(TMP_DIR, temp_name(topic, partition, uuid.uuid4().hex, extension))
    write_durably(root / relative, write)
    return relative


def publish(root: Path, topic: str, partition: int, moves: Sequence[Move]) -> None:
    """Puts every temporary file of `moves` in place, as one step a crash cannot split."""
    tmp = root / TMP_DIR
    log = orjson.dumps([[str(m.temp), str(m.final)] for m in moves])

    def write_log(handle: IO[bytes]) -> None:
        handle.write(log)

    staged = write_temp(root, topic, partition, "wal", write_log)
    (root / staged).rename(tmp / wal_name(topic, partition))
    fsync_dir(tmp)
    finish(root, tmp / wal_name(topic, partition))


def finish(root: Path, log: Path) -> list[Move]:
    """Carries out the renames a write-ahead log lists (those not yet done), then removes it."""
    moves = [Move(PurePosixPath(t), PurePosixPath(f)) for t, f in orjson.loads(log.read_bytes())]
    folders: set[Path] = set()
    for move in moves:
        temp, final = root / move.temp, root / move.final
        if temp.exists():
            final.parent.mkdir(parents=True, exist_ok=True)
            try:
                temp.rename(final)
            except FileNotFoundError:  # NFS: a retransmitted rename the server already did
                if not final.exists():
                    raise
            folders.add(final.parent)
    for folder in folders:
        fsync_dir(folder)
        fsync_dir(folder.parent)  # a new day folder's own entry
    log.unlink()
    fsync_dir(log.parent)
    return moves
