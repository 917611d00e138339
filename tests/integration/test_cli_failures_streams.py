"""The failure matrix of test_cli_failures.py for the commands that talk to Kafka and dCache's
frontend (`simulate`, `poll`, `react`, `archive`, `replay`): each endpoint a command uses, given
a closed port, a wrong password or a CA that did not sign its certificate, ends the run with
exit 1, the endpoint and what to check in the last line, and no traceback.

The endpoints are real: the session's Kafka, its SASL/SCRAM broker (`sasl_kafka`, as `stack up
--kafka-sasl` starts it) and its secured Elasticsearch node (`secure_es`). dCache's frontend
cannot run here: the stand-in of tests/helpers/dcache_frontend.py answers over HTTPS with
Basic login as the frontend does (401 for a wrong password).

A wrong CA on Kafka runs against a broker of this module's own with an SSL listener
(`esbridge.stack.kafka.TlsListener`, a certificate made with openssl; `stack up` has no option
for it), started once for the module.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
from kafka import KafkaProducer

from esbridge.simulate.streams import generate
from esbridge.stack import process
from esbridge.stack.kafka import KafkaNode, TlsListener
from esbridge.stack.process import free_port
from tests.conftest import SaslKafka
from tests.helpers.dcache_frontend import (
    Frontend,
    Route,
    basic_login,
    dcache_frontend,
    make_certificate,
    new_server_usage,
    pool_entry,
    pools_answer,
    server_tls,
    usage_path,
)
from tests.helpers.secure import (
    ES_FAILURES,
    OTHER_CA,
    PASSWORD,
    SmallRequestsNode,
    broken_es_config,
)
from tests.helpers.sites import Site, make_site, remove_site

pytestmark = pytest.mark.integration

CONNECT_TIMEOUT = 3
KAFKA_COMMANDS = {
    "simulate": ["simulate", "--count", "5", "--rate", "0"],
    "poll": ["poll", "--once"],
    "react": ["react", "--idle-exit", "2"],
    "archive": ["archive", "--idle-exit", "2"],
}
KAFKA_CELLS = [
    ("simulate", "kafka-python"),  # simulate always produces with kafka-python
    *((command, backend) for command in ("poll", "react", "archive")
      for backend in ("kafka-python", "confluent")),
]  # fmt: skip
ES_COMMANDS = {
    "react": ["react", "--idle-exit", "2"],
    "replay": [
        "replay", "--producer", "billing", "--since", "2026-11-01", "--until", "2026-11-30",
    ],
}  # fmt: skip
FRONTEND_USER, FRONTEND_PASSWORD = "esbridge", "s3cret"


@dataclass(frozen=True)
class Streaming:
    """A site on the secured node whose config has every section the commands need."""

    site: Site
    frontend: Frontend
    frontend_ca: Path
    archive_root: Path


def sections(frontend: Frontend, ca: Path, root: Path) -> str:
    return f"""
poll:
  url: {frontend.url}
  username: {FRONTEND_USER}
  password: {FRONTEND_PASSWORD}
  ca_certs: {ca}
  timeout: 2s
  interval: 1h
  topic: "{{site}}-poolinfo"
archive:
  root: {root}
  group_id: "{{site}}-archive"
  roll_interval: 300ms
reactors:
  - name: touch
    producer: billing
    group_id: "{{site}}-react"
    deadletter_index: "{{site}}-react-deadletter"
    path:
      strip_prefix: /pnfs/
    coalesce: 0.1s
    action:
      command:
        argv: ["/bin/true", "{{path}}"]
"""


@pytest.fixture(scope="module")
def streaming(
    tmp_path_factory: pytest.TempPathFactory, secure_es: SmallRequestsNode, kafka_bootstrap: str
) -> Iterator[Streaming]:
    """The site, its HTTPS frontend stand-in, and an archive of a few billing records (replay
    reads it), made by `esbridge archive` from the session's Kafka."""
    folder = tmp_path_factory.mktemp("streaming")
    ca, key = make_certificate(folder, "frontend")
    routes = {
        "/api/v1/pools": pools_answer([pool_entry("pool1", ["default"], [])]),
        usage_path("pool1"): Route(new_server_usage("pool1", domain="pool1Domain")),
    }
    credentials = f'username: elastic\npassword: "{PASSWORD}"\nca_certs: {secure_es.ca}\n'
    with dcache_frontend(
        routes, tls=server_tls((ca, key)), login=basic_login(FRONTEND_USER, FRONTEND_PASSWORD)
    ) as frontend:
        site = make_site(
            folder,
            kafka_bootstrap,
            secure_es.url,
            sections(frontend, ca, folder / "archive"),
            sections={
                "elasticsearch": credentials,
                "ingest": f"connect_timeout: {CONNECT_TIMEOUT}s\nauth_failure_timeout: 2s\n",
            },
            connect={"username": "elastic", "password": PASSWORD, "ca_certs": str(secure_es.ca)},
        )
        try:
            text = site.config_path.read_text()
            site.config_path.write_text(
                text.replace("kafka:\n", f"kafka:\n  connect_timeout: {CONNECT_TIMEOUT}s\n", 1)
            )
            producer = KafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
            start = datetime(2026, 11, 20, 12, tzinfo=UTC)
            for value in generate("billing", 20, seed=3, start=start):
                producer.send(site.topic("billing"), value)
            producer.flush()
            producer.close()
            archived = run(site.config_path, ["archive", "--idle-exit", "3"])
            assert archived.returncode == 0, archived.stderr[-2000:]
            yield Streaming(site, frontend, ca, folder / "archive")
        finally:
            remove_site(site)


def run(config: Path, args: list[str]) -> subprocess.CompletedProcess[str]:
    """The whole run; the timeout only keeps a command that never ends from hanging the suite."""
    return subprocess.run(
        [sys.executable, "-m", "esbridge", *args, "-c", str(config)],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def with_kafka(site: Site, kafka: str, backend: str, directory: Path, name: str) -> Path:
    """The site's config with its `kafka.bootstrap` line replaced by the lines of `kafka`."""
    text = site.config_path.read_text()
    original = f"  bootstrap: {site.kafka_bootstrap}\n"
    assert original in text
    path = directory / f"{name}.yml"
    path.write_text(text.replace(original, f"  backend: {backend}\n{kafka}\n", 1))
    return path


def assert_one_clear_line(result: subprocess.CompletedProcess[str], *expected: str) -> str:
    """Exit 1, no traceback, and the run's last line holds each of `expected`."""
    output = result.stdout + result.stderr
    assert result.returncode == 1, output[-3000:]
    assert "Traceback" not in output
    final = result.stderr.rstrip().splitlines()[-1]
    for part in expected:
        assert part in final, final
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error: ")]
    assert len(errors) <= 1, result.stderr[-3000:]
    return output


@pytest.mark.parametrize(("command", "backend"), KAFKA_CELLS)
def test_a_command_that_cannot_reach_kafka_says_which_brokers_in_one_line(
    command: str, backend: str, streaming: Streaming, tmp_path: Path
) -> None:
    closed = f"127.0.0.1:{free_port()}"
    config = with_kafka(streaming.site, f"  bootstrap: {closed}", backend, tmp_path, "closed")

    result = run(config, KAFKA_COMMANDS[command])

    output = assert_one_clear_line(result, closed, "kafka.bootstrap")
    refused = [line for line in output.splitlines() if "refused" in line.lower()]
    assert len(refused) <= 6, "the clients' repeated errors must be rate-limited:\n" + output


@pytest.mark.parametrize(("command", "backend"), KAFKA_CELLS)
def test_a_command_kafka_refuses_to_log_in_says_which_credentials_in_one_line(
    command: str, backend: str, streaming: Streaming, sasl_kafka: SaslKafka, tmp_path: Path
) -> None:
    kafka = (
        f"  bootstrap: {sasl_kafka.bootstrap}\n"
        f"  security_protocol: SASL_PLAINTEXT\n  sasl_mechanism: {sasl_kafka.mechanism}\n"
        f"  sasl_username: {sasl_kafka.username}\n  sasl_password: wrong-{sasl_kafka.password}"
    )
    config = with_kafka(streaming.site, kafka, backend, tmp_path, "password")

    result = run(config, KAFKA_COMMANDS[command])

    output = assert_one_clear_line(result, sasl_kafka.bootstrap, "kafka.sasl_")
    assert sasl_kafka.password not in output


@pytest.fixture(scope="module")
def tls_kafka(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KafkaNode]:
    """A broker with an SSL listener whose self-signed certificate only it trusts."""
    folder = tmp_path_factory.mktemp("tls-kafka")
    certificate, key = make_certificate(folder, "kafka")
    tls = TlsListener(process.free_port(), certificate, key)
    node = KafkaNode(folder / "node", process.free_port(), process.free_port(), tls=tls)
    pid = node.start()
    try:
        node.wait_healthy(pid, time.monotonic() + 120)
        yield node
    finally:
        process.stop_group(node.pid() or pid)


def tls_config(site: Site, node: KafkaNode, ca: Path | str, backend: str, directory: Path) -> Path:
    assert node.tls is not None
    kafka = f"  bootstrap: {node.tls.bootstrap}\n  security_protocol: SSL\n  ssl_cafile: {ca}"
    return with_kafka(site, kafka, backend, directory, "tls")


def test_the_tls_listener_is_reached_with_the_ca_that_signed_it(
    streaming: Streaming, tls_kafka: KafkaNode, tmp_path: Path
) -> None:
    """The control of the wrong-CA cells: the same settings with the right CA work."""
    assert tls_kafka.tls is not None
    config = tls_config(
        streaming.site, tls_kafka, tls_kafka.tls.certificate, "kafka-python", tmp_path
    )

    result = run(config, KAFKA_COMMANDS["simulate"])

    assert result.returncode == 0, result.stderr[-3000:]


@pytest.mark.parametrize(("command", "backend"), KAFKA_CELLS)
def test_a_command_that_does_not_trust_kafkas_certificate_says_which_ca_to_check(
    command: str, backend: str, streaming: Streaming, tls_kafka: KafkaNode, tmp_path: Path
) -> None:
    assert tls_kafka.tls is not None
    config = tls_config(streaming.site, tls_kafka, OTHER_CA, backend, tmp_path)

    result = run(config, KAFKA_COMMANDS[command])

    assert_one_clear_line(result, tls_kafka.tls.bootstrap, "kafka.ssl_cafile")


@pytest.mark.parametrize("failure", ES_FAILURES)
@pytest.mark.parametrize("command", ES_COMMANDS)
def test_react_and_replay_that_cannot_use_the_cluster_say_why_in_one_line(
    command: str, failure: str, streaming: Streaming, secure_es: SmallRequestsNode, tmp_path: Path
) -> None:
    config, endpoint = broken_es_config(streaming.site.config_path, secure_es, failure, tmp_path)
    args = ES_COMMANDS[command]
    if command == "replay":
        args = [*args, "--from-archive", str(streaming.archive_root)]

    result = run(config, args)

    expected = {"closed port": "elasticsearch.hosts", "wrong password": "401"}
    assert_one_clear_line(result, endpoint, expected.get(failure, "ca_certs"))


@pytest.mark.parametrize("failure", ["closed port", "wrong password", "wrong CA"])
def test_poll_that_cannot_use_the_frontend_says_why_in_one_line(
    failure: str, streaming: Streaming, tmp_path: Path
) -> None:
    text = streaming.site.config_path.read_text()
    url = streaming.frontend.url
    if failure == "closed port":
        url = f"https://127.0.0.1:{free_port()}"
        text = text.replace(streaming.frontend.url, url)
    elif failure == "wrong password":
        text = text.replace(f"password: {FRONTEND_PASSWORD}", "password: not-the-password")
    else:
        text = text.replace(f"ca_certs: {streaming.frontend_ca}", f"ca_certs: {OTHER_CA}")
    config = tmp_path / "poll.yml"
    config.write_text(text)

    result = run(config, ["poll", "--once"])

    expected = {"closed port": "poll.url", "wrong password": "HTTP 401"}
    assert_one_clear_line(result, url, expected.get(failure, "poll.ca_certs"))


@pytest.mark.parametrize("command", ["simulate", "react", "replay"])
def test_debug_shows_the_traceback_the_one_line_error_hides(
    command: str, streaming: Streaming, secure_es: SmallRequestsNode, tmp_path: Path
) -> None:
    if command == "replay":
        config, _ = broken_es_config(
            streaming.site.config_path, secure_es, "wrong password", tmp_path
        )
        args = [*ES_COMMANDS["replay"], "--from-archive", str(streaming.archive_root)]
    else:
        closed = f"  bootstrap: 127.0.0.1:{free_port()}"
        config = with_kafka(streaming.site, closed, "kafka-python", tmp_path, "closed")
        args = KAFKA_COMMANDS[command]

    result = run(config, ["--debug", *args])

    assert result.returncode == 1, result.stderr[-3000:]
    assert "Traceback (most recent call last)" in result.stderr
