"""The daemons' /metrics and /healthz scraped as Prometheus would, against the real Kafka and
Elasticsearch: the counters equal what happened."""

from __future__ import annotations

import signal
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from esbridge import __version__
from tests.helpers.metrics import Samples, health, sample, scrape, wait_until
from tests.helpers.sites import Site, write_config
from tests.helpers.watching import Mailbox, free_port, log_line

pytestmark = pytest.mark.integration

GOOD = (
    b'{"msgType":"remove","date":"2026-10-14T09:12:03.4+02:00","cellName":"p%d","cellType":"pool"}'
)


def stop(process: subprocess.Popen[bytes]) -> tuple[int, str]:
    process.send_signal(signal.SIGTERM)
    output, _ = process.communicate(timeout=60)
    return process.returncode, output.decode(errors="replace")


@pytest.mark.parametrize("backend", ["kafka-python", "confluent"])
def test_ingest_metrics_count_consumed_indexed_replays_and_dead_letters_and_lag_reaches_0(
    site: Site, backend: str
) -> None:
    """The lag is the end offset minus the committed one on both Kafka clients."""
    text = site.config_path.read_text(encoding="utf-8")
    site.config_path.write_text(text.replace("kafka:\n", f"kafka:\n  backend: {backend}\n", 1))
    site.produce("billing", [GOOD % n for n in range(10)])
    other = site.config.kafka.model_copy(update={"group_id": f"{site.name}-earlier"})
    site.config = site.config.model_copy(update={"kafka": other})
    assert site.ingest()[0] == 0  # another group stored the first 10: they come back as 409s
    site.produce("billing", [GOOD % n for n in range(10, 25)] + [b"{no json", b"[1]", b"x{"])
    port = free_port()
    process = site.ingest_process("--metrics-port", str(port))
    billing = {"producer": "billing"}

    where = {"topic": site.topic("billing"), "partition": "0"}

    def settled(found: Samples) -> bool:
        lag = ("esbridge_consumer_lag", frozenset(where.items()))
        return (
            sample(found, "esbridge_messages_consumed_total", **billing, **where) == 28
            and sample(found, "esbridge_committed_offset", **where) == 28
            and lag in found
            and found[lag] == 0
        )

    try:
        found = wait_until(lambda: scrape(port), settled)
        state = health(port)
    finally:
        code, output = stop(process)

    assert settled(found), output
    assert sample(found, "esbridge_documents_indexed_total", **billing) == 15
    assert sample(found, "esbridge_replays_total", **billing) == 10
    assert sample(found, "esbridge_dead_letters_total", **billing, reason="json_decode") == 2
    assert sample(found, "esbridge_dead_letters_total", **billing, reason="not_an_object") == 1
    assert sample(found, "esbridge_up", daemon="ingest", version=__version__) == 1
    assert sample(found, "esbridge_bulk_request_seconds_count") >= 1
    assert state == (200, "ok\n")
    assert code == 0, output
    assert "indexed=15 replays=10 dead_letters=3" in output


def test_ingest_against_a_closed_elasticsearch_port_counts_retries_and_turns_unhealthy(
    tmp_path: Path, kafka_bootstrap: str
) -> None:
    closed = free_port()  # bound and released: nothing listens there
    path = write_config(
        tmp_path, "closed", kafka_bootstrap, f"http://127.0.0.1:{closed}",
        "metrics:\n  stall_flushes: 3\n",
    )  # fmt: skip
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "esbridge", "ingest", "-c", str(path), "--metrics-port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        found = wait_until(
            lambda: scrape(port),
            lambda s: sample(s, "esbridge_retries_total", cause="connect") >= 3,
        )
        state = wait_until(lambda: health(port), lambda h: h[0] == 503)
        later = scrape(port)
    finally:
        code, output = stop(process)

    assert sample(found, "esbridge_retries_total", cause="connect") >= 3, output
    assert sample(later, "esbridge_retries_total", cause="connect") >= sample(
        found, "esbridge_retries_total", cause="connect"
    )
    assert state[0] == 503, output
    assert state[1].startswith(f"no connection to Elasticsearch at http://127.0.0.1:{closed} for ")
    assert sample(later, "esbridge_healthy") == 0
    assert code == 0, output  # stopped while waiting for the cluster: nothing was read


def test_watch_loop_metrics_count_cycles_issues_and_the_mail(
    watched: Site, mailbox: tuple[Mailbox, int]
) -> None:
    pool = "dcache-xfel497-01"
    five_minutes_ago = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=5)
    line = log_line(
        five_minutes_ago, pool, "Pool mode changed to disabled(): Operator intervention"
    )
    watched.produce("logs", [line])
    assert watched.ingest()[0] == 0
    watched.count(watched.index("logs"))
    port = free_port()
    command = [sys.executable, "-m", "esbridge", "--log-format", "json", "watch", "-c",
               str(watched.config_path), "--metrics-port", str(port)]  # fmt: skip
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        found = wait_until(
            lambda: scrape(port),
            lambda s: sample(s, "esbridge_notifications_total", outcome="sent") == 1,
        )
        state = health(port)
    finally:
        code, output = stop(process)

    assert sample(found, "esbridge_notifications_total", outcome="sent") == 1, output
    assert sample(found, "esbridge_issues", status="unresolved") == 1
    assert sample(found, "esbridge_watch_cycles_total", outcome="ok") >= 1
    assert sample(found, "esbridge_watch_cycle_seconds_count") >= 1
    assert sample(found, "esbridge_watch_last_success_timestamp_seconds") > 0
    assert len(mailbox[0].messages) == 1
    assert state == (200, "ok\n")
    assert code == 0, output
    assert '"logger":"esbridge.watch"' in output  # --log-format json: one object per line
