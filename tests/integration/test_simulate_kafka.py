"""The simulator against the real broker: every message arrives once, byte for byte, also
through a SASL/SCRAM listener with the config's credentials."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from kafka import KafkaAdminClient, KafkaConsumer
from kafka.admin import NewTopic

from esbridge.simulate import KINDS, SendError, mix, run_simulation, send
from tests.conftest import SaslKafka

pytestmark = pytest.mark.integration

START = datetime(2026, 10, 14, 7, 0, tzinfo=UTC)


@pytest.fixture
def admin(kafka_bootstrap: str) -> Iterator[KafkaAdminClient]:
    client = KafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    yield client
    client.close()


@pytest.fixture
def topics(admin: KafkaAdminClient) -> Iterator[dict[str, str]]:
    """One fresh three-partition topic per kind, deleted afterwards."""
    suffix = uuid.uuid4().hex[:10]
    names = {kind: f"esbridge-sim-{kind}-{suffix}" for kind in KINDS}
    admin.create_topics([NewTopic(name, 3, 1) for name in names.values()])
    yield names
    admin.delete_topics(list(names.values()))


def consume(bootstrap: str, topic: str, expected: int, timeout: float = 60.0) -> list[bytes]:
    consumer = KafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=None,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    values: list[bytes] = []
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            for records in consumer.poll(timeout_ms=500).values():
                values.extend(record.value for record in records)
            if len(values) >= expected:
                # One more poll: anything beyond `expected` would be a duplicate.
                for records in consumer.poll(timeout_ms=1000).values():
                    values.extend(record.value for record in records)
                break
    finally:
        consumer.close()
    return values


def test_mixed_traffic_arrives_complete_per_topic(
    kafka_bootstrap: str, topics: dict[str, str]
) -> None:
    messages = list(mix(500, seed=3, incidents=True, start=START))
    expected = {kind: Counter(m for k, m in messages if k == kind) for kind in KINDS}
    progress: list[int] = []

    report = send([kafka_bootstrap], topics, messages, None, progress=progress.append)

    assert report.per_topic == {topics[k]: sum(c.values()) for k, c in expected.items()}
    assert report.total == 500 and progress[-1] == 500
    assert all(report.per_topic.values())
    for kind, payloads in expected.items():
        received = consume(kafka_bootstrap, topics[kind], sum(payloads.values()))
        assert Counter(received) == payloads, kind


def test_a_kind_without_topic_is_an_error_not_a_drop(
    kafka_bootstrap: str, topics: dict[str, str]
) -> None:
    only_billing = {"billing": topics["billing"]}

    with pytest.raises(ValueError, match="no topic for messages of kind 'access'"):
        send([kafka_bootstrap], only_billing, [("billing", b"{}"), ("access", b"{}")], None)


def test_run_simulation_sends_what_it_reports(kafka_bootstrap: str, topics: dict[str, str]) -> None:
    chosen = {kind: topics[kind] for kind in ("billing", "logs", "poolinfo")}

    result = run_simulation([kafka_bootstrap], chosen, None, 1000, incidents=True, seed=1)

    assert result.sent.total == 1000
    assert set(result.sent.per_topic) == set(chosen.values())
    assert len(result.incidents) == 4
    assert (
        len(consume(kafka_bootstrap, chosen["logs"], result.sent.per_topic[chosen["logs"]]))
        == (result.sent.per_topic[chosen["logs"]])
    )


def test_a_broker_side_rejection_is_raised_not_dropped(
    kafka_bootstrap: str, admin: KafkaAdminClient
) -> None:
    name = f"esbridge-sim-small-{uuid.uuid4().hex[:10]}"
    admin.create_topics([NewTopic(name, 1, 1, topic_configs={"max.message.bytes": "300"})])
    try:
        with pytest.raises(SendError, match=name):
            send(kafka_bootstrap, {"billing": name}, mix(50, start=START, kinds=("billing",)), None)
    finally:
        admin.delete_topics([name])


def simulate_config(directory: Path, sasl_kafka: SaslKafka, password: str, topic: str) -> Path:
    path = directory / "esbridge.yml"
    path.write_text(
        f"""\
kafka:
  bootstrap: {sasl_kafka.bootstrap}
  security_protocol: SASL_PLAINTEXT
  sasl_mechanism: {sasl_kafka.mechanism}
  sasl_username: {sasl_kafka.username}
  sasl_password: {password}
  connect_timeout: 5s
elasticsearch:
  hosts: http://127.0.0.1:9200
producers:
  - name: billing
    topics: [{topic}]
    parser: billing
    index: unused-billing
"""
    )
    return path


def run_simulate(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "esbridge", "simulate", "-c", str(config), *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)


def test_simulate_feeds_a_sasl_listener_with_the_configs_credentials(
    tmp_path: Path, sasl_kafka: SaslKafka
) -> None:
    topic = f"esbridge-sim-sasl-{uuid.uuid4().hex[:10]}"
    config = simulate_config(tmp_path, sasl_kafka, sasl_kafka.password, topic)

    result = run_simulate(config, "--count", "300", "--rate", "0", "--json")

    assert result.returncode == 0, result.stderr[-3000:]
    assert json.loads(result.stdout)["sent"] == {topic: 300}
    received = consume(sasl_kafka.plaintext_bootstrap, topic, 300)  # the same broker, read back
    assert len(received) == 300


def test_simulate_with_a_wrong_password_fails_in_one_line(
    tmp_path: Path, sasl_kafka: SaslKafka
) -> None:
    topic = f"esbridge-sim-sasl-{uuid.uuid4().hex[:10]}"
    config = simulate_config(tmp_path, sasl_kafka, "wrong-password", topic)

    result = run_simulate(config, "--count", "10")

    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert (
        result.stderr.rstrip()
        .splitlines()[-1]
        .startswith(
            f"Error: cannot start a Kafka producer for {sasl_kafka.bootstrap} "
            "(SASL_PLAINTEXT SCRAM-SHA-512): "
        )
    )
