"""/healthz of the daemons end to end: healthy while they make progress against the real
Elasticsearch, 503 once it goes away for longer than the config allows, with the metrics
saying what failed. The cluster "goes away" through a TCP proxy in front of the shared node
that the test closes (tests/helpers/proxy.py); the node itself stays up for the other tests."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.helpers.metrics import Samples, health, sample, scrape, wait_until
from tests.helpers.proxy import Proxy, tcp_proxy
from tests.helpers.sites import Site, make_site, remove_site
from tests.helpers.watching import Mailbox, free_port, watch_section

pytestmark = pytest.mark.integration

GOOD = (
    b'{"msgType":"remove","date":"2026-10-14T09:12:03.4+02:00","cellName":"p%d","cellType":"pool"}'
)


@pytest.fixture
def proxy(es_url: str) -> Iterator[Proxy]:
    address = urlsplit(es_url)
    assert address.hostname is not None and address.port is not None
    with tcp_proxy(address.hostname, address.port) as running:
        yield running


def through(site: Site, proxy: Proxy, es_url: str, directory: Path) -> Path:
    """The site's config with the search engine reached through `proxy`."""
    path = directory / "through-proxy.yml"
    path.write_text(site.config_path.read_text().replace(es_url, f"http://127.0.0.1:{proxy.port}"))
    return path


def start(*args: str) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "esbridge", *args]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def stop(process: subprocess.Popen[bytes]) -> tuple[int, str]:
    process.send_signal(signal.SIGTERM)
    output, _ = process.communicate(timeout=60)
    return process.returncode, output.decode(errors="replace")


def total(samples: Samples, name: str) -> float:
    return sum(value for (found, _), value in samples.items() if found == name)


def test_watch_turns_unhealthy_after_n_failed_cycles_and_counts_them(
    tmp_path: Path,
    kafka_bootstrap: str,
    es_url: str,
    proxy: Proxy,
    mailbox: tuple[Mailbox, int],
) -> None:
    section = watch_section(mailbox[1], interval="1s") + "metrics:\n  failed_cycles: 2\n"
    site = make_site(tmp_path, kafka_bootstrap, es_url, section)
    port = free_port()
    try:
        process = start("watch", "-c", str(through(site, proxy, es_url, tmp_path)),
                        "--metrics-port", str(port))  # fmt: skip
        try:
            good = wait_until(
                lambda: scrape(port),
                lambda s: sample(s, "esbridge_watch_cycles_total", outcome="ok") >= 2,
            )
            healthy = health(port)
            proxy.close()
            gone = time.time()
            state = wait_until(lambda: health(port), lambda h: h[0] == 503)
            failing = scrape(port)
        finally:
            code, output = stop(process)
    finally:
        remove_site(site)

    assert sample(good, "esbridge_watch_cycles_total", outcome="ok") >= 2, output[-3000:]
    assert healthy == (200, "ok\n")
    assert state[0] == 503, output[-3000:]
    assert re.match(r"\d+ consecutive cycles failed, last: ", state[1]), state[1]
    assert f"127.0.0.1:{proxy.port}" in state[1]
    assert sample(failing, "esbridge_watch_cycles_total", outcome="failed") >= 2
    assert sample(failing, "esbridge_healthy") == 0
    assert 0 < sample(failing, "esbridge_watch_last_success_timestamp_seconds") <= gone
    assert code == 0, output[-3000:]
    assert "Traceback" not in output


def test_ingest_turns_unhealthy_when_nothing_is_committed_while_messages_wait(
    tmp_path: Path, kafka_bootstrap: str, es_url: str, proxy: Proxy
) -> None:
    site = make_site(tmp_path, kafka_bootstrap, es_url, "metrics:\n  stall_flushes: 5\n")
    where = {"topic": site.topic("billing"), "partition": "0"}
    port = free_port()
    try:
        site.produce("billing", [GOOD % n for n in range(5)])
        process = start("ingest", "-c", str(through(site, proxy, es_url, tmp_path)),
                        "--metrics-port", str(port), "--shutdown-timeout", "2")  # fmt: skip
        try:
            indexed = wait_until(
                lambda: scrape(port), lambda s: sample(s, "esbridge_committed_offset", **where) == 5
            )
            healthy = health(port)
            proxy.close()
            site.produce("billing", [GOOD % n for n in range(5, 10)])
            state = wait_until(lambda: health(port), lambda h: h[0] == 503)
            stalled = scrape(port)
        finally:
            code, output = stop(process)
        committed = site.committed("billing")
    finally:
        remove_site(site)

    assert sample(indexed, "esbridge_committed_offset", **where) == 5, output[-3000:]
    assert healthy == (200, "ok\n")
    assert state[0] == 503, output[-3000:]
    assert re.match(r"no commit for \d+s while 5 messages wait", state[1]), state[1]
    assert sample(stalled, "esbridge_consumer_lag", **where) == 5
    assert sample(stalled, "esbridge_committed_offset", **where) == 5
    assert total(stalled, "esbridge_retries_total") >= 1
    assert sample(stalled, "esbridge_healthy") == 0
    # A stop that cannot settle what is in flight says so and exits 1 (ingest/pipeline.py).
    assert code == 1, output[-3000:]
    assert "did not settle everything within 2s" in output
    assert committed == 5, "what was not indexed stays uncommitted, for the next run"
