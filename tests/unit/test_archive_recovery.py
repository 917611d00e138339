"""Recovery from the files: interrupted writes finished, leftovers removed, resume points."""

from __future__ import annotations

from pathlib import Path, PurePosixPath

import orjson

from esbridge.archive.layout import TMP_DIR, temp_name, wal_name
from esbridge.archive.recovery import recover
from esbridge.archive.writer import Move, publish, write_temp


def touch(root: Path, relative: str) -> Path:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x")
    return path


def temp(root: Path, topic: str, partition: int) -> PurePosixPath:
    (root / TMP_DIR).mkdir(parents=True, exist_ok=True)
    return write_temp(root, topic, partition, "parquet", lambda handle: None)


def test_resume_points_come_from_the_highest_offset_in_the_names(tmp_path: Path) -> None:
    touch(tmp_path, "billing/year=2026/month=11/day=30/billing+0+0+49.parquet")
    touch(tmp_path, "billing/year=2026/month=12/day=01/billing+0+50+99.parquet")
    touch(tmp_path, "billing/year=2026/month=12/day=01/billing+1+0+9.parquet")
    found = recover(tmp_path, {("billing", 0): "billing", ("billing", 1): "billing"})
    assert found == {("billing", 0): 100, ("billing", 1): 10}


def test_a_partition_without_files_has_no_resume_point(tmp_path: Path) -> None:
    assert recover(tmp_path, {("billing", 0): "billing"}) == {}


def test_leftover_temporary_files_of_assigned_partitions_are_removed(tmp_path: Path) -> None:
    mine = temp(tmp_path, "billing", 0)
    other = temp(tmp_path, "billing", 1)  # another member's partition: not touched
    recover(tmp_path, {("billing", 0): "billing"})
    assert not (tmp_path / mine).exists()
    assert (tmp_path / other).exists()


def test_an_interrupted_publication_is_completed_from_its_log(tmp_path: Path) -> None:
    done_final = "billing/year=2026/month=12/day=01/billing+0+0+9.parquet"
    late_final = "billing/year=2026/month=11/day=30/billing+0+3+8.parquet"
    touch(tmp_path, done_final)  # renamed before the crash
    pending = temp(tmp_path, "billing", 0)  # not yet renamed
    log = tmp_path / TMP_DIR / wal_name("billing", 0)
    log.write_bytes(
        orjson.dumps(
            [[str(PurePosixPath(TMP_DIR, temp_name("billing", 0, "gone", "parquet"))), done_final],
             [str(pending), late_final]]
        )
    )  # fmt: skip
    found = recover(tmp_path, {("billing", 0): "billing"})
    assert (tmp_path / late_final).exists()
    assert not log.exists()
    assert found == {("billing", 0): 10}


def test_publish_puts_every_file_of_a_partition_in_place_and_leaves_no_log(
    tmp_path: Path,
) -> None:
    finals = [
        "logs/year=2026/month=12/day=01/logs+2+0+5.parquet",
        "logs/year=2026/month=11/day=30/logs+2+1+4.parquet",
    ]
    moves = [Move(temp(tmp_path, "logs", 2), PurePosixPath(final)) for final in finals]
    publish(tmp_path, "logs", 2, moves)
    assert all((tmp_path / m.final).exists() for m in moves)
    assert list((tmp_path / TMP_DIR).iterdir()) == []
