"""How much `esbridge ingest` logs while Kafka is out of reach, with both client backends. The
issue saw 681 librdkafka ERROR lines in 35 s with Kafka unreachable; the clients' repeated
errors are rate-limited now (esbridge/ingest/kafka/ratelimit.py): the first of a kind, then a
count every 30 s, and the one line of `ConnectionWatch` (esbridge/ingest/kafka/errors.py).

Against a closed port from the start, and against a broker of this module's own that is
stopped mid-run (started with the project's stack code, `esbridge.stack.kafka.KafkaNode`).
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from esbridge.stack import process
from esbridge.stack.kafka import KafkaNode
from tests.helpers.metrics import scrape, wait_until
from tests.helpers.sites import Site, make_site, remove_site
from tests.helpers.watching import free_port

pytestmark = pytest.mark.integration

BACKENDS = ["confluent", "kafka-python"]
CLIENT_LOGGERS = ("kafka", "esbridge.librdkafka", "esbridge.source")
OUTAGE = 20.0
"""Seconds the broker stays away in the mid-run test."""
GOOD = (
    b'{"msgType":"remove","date":"2026-10-14T09:12:03.4+02:00","cellName":"p%d","cellType":"pool"}'
)


def with_kafka(site: Site, backend: str, connect_timeout: int) -> Path:
    text = site.config_path.read_text()
    site.config_path.write_text(
        text.replace(
            "kafka:\n", f"kafka:\n  backend: {backend}\n  connect_timeout: {connect_timeout}s\n", 1
        )
    )
    return site.config_path


def client_complaints(output: str, since: datetime | None = None) -> list[str]:
    """Warnings and errors of the Kafka clients (and of esbridge about Kafka), at or after
    `since` when given (by each line's UTC timestamp)."""
    found = []
    for line in output.splitlines():
        parts = line.split(" ", 3)
        if len(parts) < 4 or parts[1] not in ("WARNING", "ERROR"):
            continue
        logger = parts[2].rstrip(":")
        if not any(logger == name or logger.startswith(f"{name}.") for name in CLIENT_LOGGERS):
            continue
        if since is not None and datetime.fromisoformat(parts[0]) < since:
            continue
        found.append(line)
    return found


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_closed_kafka_port_gives_few_lines_and_one_error_naming_the_brokers(
    tmp_path: Path, es_url: str, backend: str
) -> None:
    closed = f"127.0.0.1:{free_port()}"
    site = make_site(tmp_path, closed, es_url)
    try:
        config = with_kafka(site, backend, 15)
        result = subprocess.run(
            [sys.executable, "-m", "esbridge", "ingest", "-c", str(config)],
            capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
    finally:
        remove_site(site, topics=False)

    output = result.stdout + result.stderr
    assert result.returncode == 1, output[-3000:]
    assert "Traceback" not in output
    final = result.stderr.rstrip().splitlines()[-1]
    assert f"no Kafka broker of {closed} answered (PLAINTEXT) for 15s: " in final, final
    assert "check kafka.bootstrap" in final
    complaints = client_complaints(output)
    assert len(complaints) <= 5, "\n".join(complaints)
    assert sum(closed in line for line in result.stderr.splitlines()) <= 4, output[-3000:]


@pytest.fixture(scope="module")
def throwaway_kafka(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KafkaNode]:
    """A broker of this module's own, stopped and started again by its tests."""
    node = KafkaNode(
        tmp_path_factory.mktemp("gone-kafka"), process.free_port(), process.free_port()
    )
    pid = node.start()
    node.wait_healthy(pid, time.monotonic() + 120)
    yield node
    process.stop_group(node.pid() or pid)


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_kafka_that_goes_away_mid_run_is_reported_in_a_few_lines_and_sigterm_exits_0(
    tmp_path: Path, es_url: str, throwaway_kafka: KafkaNode, backend: str
) -> None:
    site = make_site(tmp_path, throwaway_kafka.bootstrap, es_url)
    port = free_port()
    try:
        config = with_kafka(site, backend, 300)  # longer than the outage: it must not exit
        site.produce("billing", [GOOD % n for n in range(5)])
        ingest = subprocess.Popen(
            [sys.executable, "-m", "esbridge", "ingest", "-c", str(config),
             "--metrics-port", str(port)],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip
        try:
            where = frozenset({"topic": site.topic("billing"), "partition": "0"}.items())
            key = ("esbridge_committed_offset", where)
            found = wait_until(lambda: scrape(port), lambda s: s.get(key) == 5)
            assert found.get(key) == 5, "ingest read and committed the first messages"
            gone = datetime.now(UTC)
            process.stop_group(throwaway_kafka.pid() or 0)
            time.sleep(OUTAGE)
            assert ingest.poll() is None, "ingest gave up within kafka.connect_timeout"
        finally:
            ingest.send_signal(signal.SIGTERM)
            output, _ = ingest.communicate(timeout=60)
            throwaway_kafka.wait_healthy(throwaway_kafka.start(), time.monotonic() + 120)
    finally:
        remove_site(site)

    assert ingest.returncode == 0, output[-3000:]
    assert "Traceback" not in output
    complaints = client_complaints(output, since=gone)
    assert len(complaints) <= 5, "\n".join(complaints)
    assert any(f"no Kafka broker of {throwaway_kafka.bootstrap}" in line for line in complaints)
