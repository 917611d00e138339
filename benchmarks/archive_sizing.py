"""Bytes per archived billing message: Parquet against JSON lines gz, on simulated billing.

Runs the real archiver (`esbridge.archive.runner.Archiver`) over an in-memory source holding
`--count` messages of `esbridge simulate`'s billing stream, once per format, with one roll at
the end (as with a large `roll_size`), and reports the files' bytes per message next to the
raw messages' own size. No Kafka or Elasticsearch needed:

    python benchmarks/archive_sizing.py --count 100000
"""

from __future__ import annotations

import argparse
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from esbridge.archive.runner import ArchiveLimits, Archiver
from esbridge.config import load_config
from esbridge.ingest.kafka.base import Partition, PartitionsCallback
from esbridge.ingest.message import Message
from esbridge.simulate.streams import generate

CONFIG = """\
kafka:
  bootstrap: 127.0.0.1:9
elasticsearch:
  hosts: http://127.0.0.1:9
producers:
  - name: billing
    topics: [billing]
    parser: billing
    index: dcache-billing
archive:
  root: {root}
  format: {format}
  roll_size: 64gb
  roll_interval: 1d
"""


class ListSource:
    """The `Source` seam over a list: one partition, everything handed out by the polls."""

    def __init__(self, messages: list[Message]) -> None:
        self.messages = messages

    def subscribe(
        self, topics: list[str], on_revoked: PartitionsCallback, on_assigned: PartitionsCallback
    ) -> None:
        on_assigned({("billing", 0)})

    def poll(self, timeout: float, max_records: int) -> list[Message]:
        taken, self.messages = self.messages[:max_records], self.messages[max_records:]
        return taken

    def commit(self, offsets: dict[Partition, int], *, blocking: bool = True) -> None: ...
    def seek(self, offsets: dict[Partition, int]) -> None: ...
    def pause(self) -> None: ...
    def resume(self) -> None: ...
    def drained(self) -> bool:
        return not self.messages

    def lag(self) -> int | None:
        return len(self.messages)

    def close(self) -> None: ...
    def topic_ids(self, topics: set[str]) -> dict[str, str]:
        return {"billing": "0fZ3ACCPStmIoMkN5VkBuQ"}


def measure(values: list[bytes], fmt: str) -> tuple[int, float]:
    """Bytes of the archive files of `values` in `fmt`, and seconds the archiver took."""
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder) / "archive"
        config_path = Path(folder) / "esbridge.yml"
        config_path.write_text(CONFIG.format(root=root, format=fmt))
        config = load_config(config_path, {})
        stamp = int(datetime.now(UTC).timestamp() * 1000)
        messages = [Message("billing", 0, i, v, stamp) for i, v in enumerate(values)]
        started = time.perf_counter()
        archiver = Archiver(config, ListSource(messages), ArchiveLimits())
        while archiver.source.drained() is False:  # type: ignore[attr-defined]
            archiver.step()
        archiver.shutdown()
        seconds = time.perf_counter() - started
        files = [p for p in root.rglob("*") if p.is_file() and "_tmp" not in p.parts]
        return sum(p.stat().st_size for p in files), seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    values = list(generate("billing", args.count, seed=args.seed))
    raw = sum(len(v) for v in values)
    print(f"{args.count} simulated billing messages, raw {raw / args.count:.0f} bytes/message")
    for fmt in ("parquet", "jsonl.gz"):
        size, seconds = measure(values, fmt)
        print(
            f"{fmt:9} {size / args.count:7.1f} bytes/message  "
            f"({100 * size / raw:.1f}% of raw, {args.count / seconds:,.0f} messages/s archived)"
        )


if __name__ == "__main__":
    main()
