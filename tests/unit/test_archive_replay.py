"""Replay over fake seams: which files a day range takes, ids as ingest gives, progress."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import orjson
import pytest

from esbridge.archive.replay import Replay, ReplayStats, day_files
from esbridge.archive.runner import ArchiveLimits, Archiver
from esbridge.config import Config, load_config
from esbridge.ingest.message import Message
from tests.helpers.configs import MINIMAL
from tests.helpers.seams import FakeClock, FakeSender, FakeSource

TOPIC_ID = "0fZ3ACCPStmIoMkN5VkBuQ"


def billing(offset: int, day: str) -> Message:
    value = (
        b'{"msgType":"transfer","date":"' + day.encode() + b'T09:12:03.400Z","cellName":"p1",'
        b'"cellType":"pool","transferSize":10}'
    )
    return Message("billing", 0, offset, value)


def archived(tmp_path: Path, fmt: str) -> Config:
    path = tmp_path / "esbridge.yml"
    path.write_text(MINIMAL + f"archive:\n  root: {tmp_path / 'a'}\n  format: {fmt}\n")
    config = load_config(path, {})
    days = ["2026-11-29", "2026-11-30", "2026-12-01"]
    backlog = [billing(o, days[o % 3]) for o in range(9)] + [
        Message("billing", 0, 9, b"{x"),
        Message("billing", 0, 10, b"\xff not UTF-8"),
    ]
    source = FakeSource(backlog=backlog, ids={"billing": TOPIC_ID})
    run = Archiver(
        config, source, ArchiveLimits(), FakeClock(), lambda: datetime(2026, 12, 1, tzinfo=UTC)
    )
    run.step()
    run.shutdown()
    return config


def test_a_day_range_takes_the_files_of_those_days_only(tmp_path: Path) -> None:
    archived(tmp_path, "parquet")
    files = day_files(tmp_path / "a", "billing", date(2026, 11, 30), date(2026, 12, 1))
    assert [f.day for f in files] == [date(2026, 11, 30), date(2026, 12, 1)]
    assert sum(f.rows for f in files) == 3 + 5  # the unparsable records lie on archive day


@pytest.mark.parametrize("fmt", ["parquet", "jsonl.gz"])
def test_replay_gives_ingest_ids_into_the_chosen_index_with_dead_letters(
    tmp_path: Path, fmt: str
) -> None:
    config = archived(tmp_path, fmt)
    files = day_files(tmp_path / "a", "billing", date(2026, 1, 1), date(2026, 12, 31))
    sender = FakeSender(settle_on_submit=True)
    lines: list[str] = []
    (producer,) = config.producers
    job = Replay(config, producer, "mine", sender, require_alias=False, progress=lines.append)
    settled, stats = job.run(files)
    assert settled
    assert (stats.read, stats.indexed, stats.dead_letters) == (11, 9, 2)
    items = [item for batch in sender.submitted for item in batch.items]
    assert sorted(item.doc_id for item in items) == sorted(
        f"{TOPIC_ID[:8]}-0-{o}" for o in range(11)
    )
    actions = [orjson.loads(item.line.split(b"\n")[0]) for item in items if not item.dead]
    assert {a["create"]["_index"] for a in actions} == {"mine"}
    assert all("require_alias" not in a["create"] for a in actions)
    assert lines[-1].startswith("replay: 11/11 records (100%)")
    raws = {item.message.offset: item.message.value for item in items}
    assert raws[10] == b"\xff not UTF-8"


def test_progress_shows_rate_and_time_left() -> None:
    stats = ReplayStats(total=1000, read=250)
    assert stats.progress(5.0) == "replay: 250/1000 records (25%), 50 records/s, ETA 15s"
