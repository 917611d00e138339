"""Archive names and paths: what is written can be read back, and the resume point is right."""

from __future__ import annotations

from datetime import date
from pathlib import PurePosixPath

from esbridge.archive.layout import (
    ArchivedFile,
    day_dir,
    final_path,
    next_offsets,
    parse_day_dir,
    parse_file_name,
    temp_name,
    wal_name,
)


def test_a_file_name_parses_back_into_topic_partition_and_offsets() -> None:
    archived = ArchivedFile("dcache.billing-v2", 3, 1200, 4999, "parquet")
    assert archived.name == "dcache.billing-v2+3+1200+4999.parquet"
    assert parse_file_name(archived.name) == archived
    assert parse_file_name("billing+0+7+9.jsonl.gz") == ArchivedFile("billing", 0, 7, 9, "jsonl.gz")


def test_temporary_logs_and_foreign_files_are_not_taken_for_archive_files() -> None:
    for name in (
        temp_name("billing", 0, "abc", "parquet"),
        wal_name("billing", 0),
        "billing+0+9+7.parquet",  # last before first
        "billing+0+1.parquet",
        "_SUCCESS",
        "billing+0+1+2.csv",
    ):
        assert parse_file_name(name) is None, name


def test_day_folders_are_spark_partitions_with_zero_padded_month_and_day() -> None:
    path = final_path("billing", date(2019, 6, 3), ArchivedFile("billing", 0, 0, 9, "parquet"))
    assert path == PurePosixPath("billing/year=2019/month=06/day=03/billing+0+0+9.parquet")
    assert parse_day_dir(day_dir("billing", date(2019, 6, 3))) == date(2019, 6, 3)
    assert parse_day_dir(PurePosixPath("billing/year=2019/month=13/day=01")) is None
    assert parse_day_dir(PurePosixPath("billing/_tmp")) is None


def test_a_partition_resumes_after_its_highest_archived_offset_across_days() -> None:
    files = [
        ArchivedFile("billing", 0, 0, 99, "parquet"),
        ArchivedFile("billing", 0, 101, 180, "parquet"),  # another day of the same write
        ArchivedFile("billing", 0, 100, 199, "parquet"),
        ArchivedFile("billing", 1, 0, 4, "parquet"),
        ArchivedFile("logs", 0, 10, 10, "parquet"),
    ]
    assert next_offsets(files) == {("billing", 0): 200, ("billing", 1): 5, ("logs", 0): 11}


def test_temporary_names_of_one_partition_never_start_like_another_partitions() -> None:
    assert not temp_name("billing", 10, "x", "parquet").startswith("billing+1+")
