"""`esbridge ingest` that cannot get into Kafka ends, with both backends: a wrong password on
the real SASL/SCRAM listener, and a bootstrap nobody listens on. Before, the confluent backend
ran for ever logging the refusal three times a second, and kafka-python died with a traceback.
A broker that is back before `kafka.connect_timeout` is carried on with.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from esbridge.cluster.search import SearchCluster
from esbridge.config import load_config
from esbridge.setup.installer import install
from esbridge.setup.templates import Target, render_resources
from esbridge.stack import process
from esbridge.stack.kafka import KafkaNode
from tests.conftest import SaslKafka
from tests.helpers.sites import Site, remove_site

BACKENDS = ["confluent", "kafka-python"]
CONNECT_TIMEOUT = 5


@pytest.fixture
def make_config(tmp_path: Path, es_url: str) -> Iterator[Callable[[str], Path]]:
    """A config with this `kafka:` body, set up as `esbridge setup` would (ingest refuses to
    start without it); its indices and templates are removed afterwards."""
    made: list[Site] = []

    def make(kafka: str) -> Path:
        name = f"t{uuid.uuid4().hex[:10]}"
        path = tmp_path / f"{name}.yml"
        path.write_text(
            f"""\
template_prefix: {name}
kafka:
{kafka}
  group_id: {name}-group
  connect_timeout: {CONNECT_TIMEOUT}s
elasticsearch:
  hosts: ["{es_url}"]
producers:
  - name: billing
    topics: [{name}-billing]
    parser: billing
    index: {name}-billing
deadletter:
  index: {name}-deadletter
"""
        )
        config = load_config(path)
        cluster = SearchCluster.connect([es_url])
        made.append(Site(name, path, config, cluster, ""))
        resources = render_resources(
            config.producers, config.deadletter, target=Target.of(cluster), prefix=name
        )
        install(cluster, resources, dry_run=False)
        return path

    yield make
    for site in made:
        remove_site(site, topics=False)


def run_ingest(config: Path) -> subprocess.CompletedProcess[str]:
    """The whole run; the timeout only keeps a run that never ends (the old bug) from hanging."""
    return subprocess.run(
        [sys.executable, "-m", "esbridge", "ingest", "-c", str(config)],
        capture_output=True,
        text=True,
        timeout=CONNECT_TIMEOUT + 90,
        check=False,
    )


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_wrong_kafka_password_ends_ingest_with_exit_1_and_one_clear_line(
    make_config: Callable[[str], Path], sasl_kafka: SaslKafka, backend: str
) -> None:
    kafka = (
        f"  bootstrap: {sasl_kafka.bootstrap}\n  backend: {backend}\n"
        f"  security_protocol: SASL_PLAINTEXT\n  sasl_mechanism: {sasl_kafka.mechanism}\n"
        f"  sasl_username: {sasl_kafka.username}\n  sasl_password: wrong-{sasl_kafka.password}"
    )

    result = run_ingest(make_config(kafka))

    output = result.stdout + result.stderr
    assert result.returncode == 1, output[-3000:]
    assert "Traceback" not in output
    assert sasl_kafka.password not in output
    final = output.rstrip().splitlines()[-1]
    assert f"no Kafka broker of {sasl_kafka.bootstrap} " in final
    assert "(SASL_PLAINTEXT SCRAM-SHA-512 as user esbridge" in final
    assert f" for {CONNECT_TIMEOUT}s: " in final
    # The broker's own reason, unless kafka-python read the broker's close before its answer.
    assert "accepted the credentials" in final or "let esbridge in" in final
    refusals = [line for line in output.splitlines() if "invalid credentials" in line]
    assert len(refusals) <= 5, "the clients' repeated refusals must be rate-limited:\n" + output


@pytest.mark.parametrize("backend", BACKENDS)
def test_an_unreachable_bootstrap_ends_ingest_with_exit_1_and_one_clear_line(
    make_config: Callable[[str], Path], backend: str
) -> None:
    closed = f"127.0.0.1:{process.free_port()}"  # bound once and released: nobody listens

    result = run_ingest(make_config(f"  bootstrap: {closed}\n  backend: {backend}"))

    output = result.stdout + result.stderr
    assert result.returncode == 1, output[-3000:]
    assert "Traceback" not in output
    final = output.rstrip().splitlines()[-1]
    assert f"no Kafka broker of {closed} answered (PLAINTEXT) for {CONNECT_TIMEOUT}s: " in final
    refused = [line for line in output.splitlines() if "refused" in line.lower()]
    assert len(refused) <= 6, "the clients' repeated errors must be rate-limited:\n" + output


@pytest.fixture(scope="module")
def own_kafka(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KafkaNode]:
    """A broker of this module's own, so stopping it does not disturb the other tests."""
    node = KafkaNode(tmp_path_factory.mktemp("own-kafka"), process.free_port(), process.free_port())
    pid = node.start()
    node.wait_healthy(pid, time.monotonic() + 120)
    yield node
    process.stop_group(node.pid() or pid)


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_broker_back_within_the_connect_timeout_does_not_end_ingest(
    make_config: Callable[[str], Path], own_kafka: KafkaNode, backend: str
) -> None:
    timeout = 30
    config = make_config(f"  bootstrap: {own_kafka.bootstrap}\n  backend: {backend}")
    config.write_text(config.read_text().replace(f"{CONNECT_TIMEOUT}s", f"{timeout}s"))
    command = [sys.executable, "-m", "esbridge", "ingest", "-c", str(config)]
    ingest = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        time.sleep(8)  # in its group
        process.stop_group(own_kafka.pid() or 0)
        stopped = time.monotonic()
        time.sleep(8)  # down long enough for the one-line error (ingest/kafka/errors.py)
        own_kafka.wait_healthy(own_kafka.start(), time.monotonic() + 120)
        time.sleep(max(0.0, stopped + timeout + 5 - time.monotonic()))  # past the timeout

        assert ingest.poll() is None, "ingest gave up although the broker came back"
    finally:
        ingest.send_signal(signal.SIGTERM)
        output, _ = ingest.communicate(timeout=60)
    assert ingest.returncode == 0, output[-3000:]
    assert "answers again" in output, output[-3000:]
