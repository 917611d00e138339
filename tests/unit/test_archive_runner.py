"""The archive loop over fake seams: roll policy, days, commits after files, resume points."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from esbridge.archive.layout import TMP_DIR
from esbridge.archive.runner import ArchiveLimits, Archiver
from esbridge.config import Config, load_config
from esbridge.ingest.message import Message
from tests.helpers.configs import MINIMAL
from tests.helpers.seams import FakeClock, FakeSource

NOW = datetime(2026, 12, 1, 12, tzinfo=UTC)


def billing(offset: int, day: str = "2026-12-01", partition: int = 0) -> Message:
    value = (
        b'{"msgType":"transfer","date":"' + day.encode() + b'T09:12:03.400Z","cellName":"p1",'
        b'"cellType":"pool","transferSize":10}'
    )
    return Message("billing", partition, offset, value)


def make_config(tmp_path: Path, **archive: str) -> Config:
    lines = "".join(f"  {key}: {value}\n" for key, value in archive.items())
    path = tmp_path / "esbridge.yml"
    path.write_text(MINIMAL + f"archive:\n  root: {tmp_path / 'archive'}\n{lines}")
    return load_config(path, {})


def archiver(config: Config, source: FakeSource, clock: FakeClock) -> Archiver:
    return Archiver(config, source, ArchiveLimits(), clock, wallclock=lambda: NOW)


def files(root: Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*.parquet"))


def test_nothing_is_written_or_committed_before_the_roll_interval(tmp_path: Path) -> None:
    config = make_config(tmp_path, roll_interval="60s")
    clock = FakeClock()
    source = FakeSource(backlog=[billing(o) for o in range(5)])
    run = archiver(config, source, clock)
    run.step()
    clock.advance(59)
    run.step()
    assert files(tmp_path / "archive") == []
    assert source.committed() == {}
    clock.advance(1)
    run.step()
    assert files(tmp_path / "archive") == [
        "billing/year=2026/month=12/day=01/billing+0+0+4.parquet"
    ]
    assert source.committed() == {("billing", 0): 5}


def test_a_buffer_reaching_the_roll_size_is_written_at_once(tmp_path: Path) -> None:
    config = make_config(tmp_path, roll_size="300b", roll_interval="1h")
    source = FakeSource(backlog=[billing(o) for o in range(3)])
    run = archiver(config, source, FakeClock())
    run.step()
    (written,) = files(tmp_path / "archive")
    assert written.endswith("billing+0+0+2.parquet")
    assert source.committed() == {("billing", 0): 3}


def test_late_records_go_to_their_own_day_in_the_same_write(tmp_path: Path) -> None:
    config = make_config(tmp_path, roll_interval="10s")
    clock = FakeClock()
    backlog = [billing(0), billing(1, "2026-11-30"), billing(2), billing(3, "2026-11-30")]
    source = FakeSource(backlog=backlog)
    run = archiver(config, source, clock)
    run.step()
    clock.advance(10)
    run.step()
    assert files(tmp_path / "archive") == [
        "billing/year=2026/month=11/day=30/billing+0+1+3.parquet",
        "billing/year=2026/month=12/day=01/billing+0+0+2.parquet",
    ]
    assert source.committed() == {("billing", 0): 4}
    late = pq.read_table(tmp_path / "archive" / files(tmp_path / "archive")[0])
    assert late.column("kafka.offset").to_pylist() == [1, 3]


def test_a_start_resumes_after_the_files_and_commits_that_offset(tmp_path: Path) -> None:
    config = make_config(tmp_path, roll_interval="1s")
    clock = FakeClock()
    first = FakeSource(backlog=[billing(o) for o in range(4)])
    run = archiver(config, first, clock)
    run.step()
    clock.advance(1)
    run.step()
    # a crash between rename and commit: the group still says 0
    second = FakeSource(backlog=[billing(o) for o in range(6)])
    rerun = archiver(config, second, clock)
    assert second.seeks == [{("billing", 0): 4}]
    rerun.step()
    clock.advance(1)
    rerun.step()
    assert files(tmp_path / "archive")[-1].endswith("billing+0+4+5.parquet")
    assert second.commits[0] == {("billing", 0): 4}
    assert second.committed() == {("billing", 0): 6}


def test_messages_below_the_resume_point_are_not_archived_again(tmp_path: Path) -> None:
    config = make_config(tmp_path, roll_interval="1s")
    clock = FakeClock()
    run = archiver(config, FakeSource(backlog=[billing(o) for o in range(3)]), clock)
    run.step()
    clock.advance(1)
    run.step()
    deaf = FakeSource(backlog=[billing(o) for o in range(5)])
    deaf.seek = lambda offsets: None  # type: ignore[method-assign] # a seek that did not take
    rerun = archiver(config, deaf, clock)
    rerun.step()
    clock.advance(1)
    rerun.step()
    assert rerun.stats.skipped == 3
    assert files(tmp_path / "archive")[-1].endswith("billing+0+3+4.parquet")


def test_revoked_partitions_drop_their_buffers_unwritten_and_uncommitted(tmp_path: Path) -> None:
    config = make_config(tmp_path, roll_interval="1s")
    clock = FakeClock()
    source = FakeSource(backlog=[billing(o) for o in range(3)])
    run = archiver(config, source, clock)
    run.step()
    assert source.on_revoked is not None
    source.on_revoked({("billing", 0)})
    clock.advance(5)
    run.step()
    assert files(tmp_path / "archive") == []
    assert source.committed() == {}


def test_an_unparsable_record_is_archived_raw_with_its_error(tmp_path: Path) -> None:
    config = make_config(tmp_path, roll_interval="1s")
    clock = FakeClock()
    bad = Message("billing", 0, 0, b"{oops", 1764331200000)  # 2025-11-28 12:00 UTC
    run = archiver(config, FakeSource(backlog=[bad]), clock)
    run.step()
    clock.advance(1)
    run.step()
    (written,) = files(tmp_path / "archive")
    assert written.startswith("billing/year=2025/month=11/day=28/")  # the Kafka timestamp's day
    row = pq.read_table(tmp_path / "archive" / written).to_pylist()[0]
    assert row["raw"] == b"{oops"
    assert row["error.type"] == "json_decode"
    assert run.stats.unparsed == 1


def test_stopping_writes_what_is_buffered_and_leaves_no_temporary_file(tmp_path: Path) -> None:
    config = make_config(tmp_path, roll_interval="1h", format="jsonl.gz")
    source = FakeSource(backlog=[billing(o) for o in range(2)])
    run = archiver(config, source, FakeClock())
    run.step()
    assert run.shutdown() == 0
    assert [p.name for p in (tmp_path / "archive").rglob("*.jsonl.gz")] == [
        "billing+0+0+1.jsonl.gz"
    ]
    assert list((tmp_path / "archive" / TMP_DIR).iterdir()) == []
    assert source.committed() == {("billing", 0): 2}
    assert source.closed


def test_a_url_root_is_refused_at_load_with_the_reason(tmp_path: Path) -> None:
    path = tmp_path / "esbridge.yml"
    path.write_text(MINIMAL + "archive:\n  root: s3://bucket/archive\n")
    with pytest.raises(Exception, match="atomic rename"):
        load_config(path, {})
