"""Crashes and outages: ingest SIGKILLed, Elasticsearch gone 30 s; nothing lost or doubled."""

from __future__ import annotations

import shutil
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from esbridge.stack import process
from esbridge.stack.elasticsearch import EsNode
from esbridge.stack.manager import Stack, StackOptions
from tests.helpers.sites import Site, make_site, remove_site


def billing_values(samples_dir: Path, count: int) -> list[bytes]:
    lines = [line for line in (samples_dir / "billing.jsonl").read_bytes().splitlines() if line]
    return [lines[i % len(lines)] for i in range(count)]


def wait_for(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.2)
    pytest.fail(f"timed out after {timeout:.0f}s waiting for {what}")


def offsets_range(site: Site, index: str) -> tuple[int, int]:
    """With ids derived from offsets, count == N and this range == (0, N-1) mean exactly once."""
    site.cluster.refresh(index)
    aggs = site.cluster.search(
        index,
        {
            "size": 0,
            "aggs": {
                "low": {"min": {"field": "kafka.offset"}},
                "high": {"max": {"field": "kafka.offset"}},
            },
        },
    )["aggregations"]
    return int(aggs["low"]["value"]), int(aggs["high"]["value"])


def test_kill_9_mid_stream_then_restart_loses_and_duplicates_nothing(
    site: Site, samples_dir: Path
) -> None:
    total = 40_000
    index = site.index("billing")
    site.produce("billing", billing_values(samples_dir, total))

    first = site.ingest_process()
    wait_for(lambda: site.count(index) > 0, 120, "the first documents")
    first.kill()
    first.wait(timeout=30)
    at_kill = site.count(index)
    committed_at_kill = site.committed("billing") or 0

    second = site.ingest_process("--idle-exit", "5")
    output = second.communicate(timeout=300)[0].decode()

    assert 0 < at_kill < total, "the kill must land mid-stream"
    assert committed_at_kill <= at_kill, "offsets were committed before Elasticsearch had the docs"
    assert second.returncode == 0, output[-3000:]
    assert site.count(index) == total
    assert offsets_range(site, index) == (0, total - 1)
    assert site.count(site.deadletter) == 0
    assert site.committed("billing") == total
    assert "summary" in output


@pytest.fixture
def own_es(tmp_path: Path) -> Iterator[EsNode]:
    """A node of this test's own, so stopping it does not disturb the other tests."""
    root = Stack(StackOptions(directory=tmp_path / "own")).es_root()
    node = EsNode(root, process.free_port(), process.free_port())
    pid = node.start()
    node.wait_healthy(pid, time.monotonic() + 180)
    yield node
    running = node.pid()
    if running:
        process.stop_group(running)
    shutil.rmtree(root, ignore_errors=True)


def test_elasticsearch_down_30s_mid_stream_loses_nothing_and_resumes(
    tmp_path: Path, own_es: EsNode, kafka_bootstrap: str, samples_dir: Path
) -> None:
    site = make_site(tmp_path, kafka_bootstrap, own_es.url)
    index = site.index("billing")
    before, during = 20_000, 5_000
    try:
        site.produce("billing", billing_values(samples_dir, before))
        ingest = site.ingest_process()
        wait_for(lambda: site.count(index) > 0, 120, "the first documents")

        process.stop_group(own_es.pid() or 0)
        stopped_at = time.monotonic()
        site.produce("billing", billing_values(samples_dir, during))
        time.sleep(max(0.0, 30 - (time.monotonic() - stopped_at)))
        assert ingest.poll() is None, "ingest must keep running while Elasticsearch is away"
        pid = own_es.start()
        own_es.wait_healthy(pid, time.monotonic() + 180)

        wait_for(lambda: site.count(index) == before + during, 180, "every message indexed")
        wait_for(lambda: site.committed("billing") == before + during, 60, "the final commit")
        ingest.send_signal(signal.SIGTERM)
        output = ingest.communicate(timeout=120)[0].decode()

        assert ingest.returncode == 0, output[-3000:]
        assert offsets_range(site, index) == (0, before + during - 1)
        assert site.count(site.deadletter) == 0
        assert "retrying" in output or "unreachable" in output
    finally:
        remove_site(site)
