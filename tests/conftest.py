"""Shared fixtures: the real Kafka broker and Elasticsearch node, started once per test run.

When ESBRIDGE_KAFKA_BOOTSTRAP and ESBRIDGE_ES_URL are both set, the tests use that stack as it
is; otherwise `esbridge.stack` downloads (once, cached) and starts one on free loopback ports,
and stops it at the end of the run.
"""

from __future__ import annotations

import os
import secrets
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from elasticsearch import Elasticsearch

from esbridge.cluster.search import SearchCluster
from esbridge.stack import process
from esbridge.stack.kafka import KafkaNode, SaslListener
from esbridge.stack.manager import Stack, StackOptions
from tests.helpers.paths import SAMPLES


@pytest.fixture(scope="session")
def samples_dir() -> Path:
    """`../shared/samples` beside the project root."""
    if not SAMPLES.is_dir():
        pytest.fail(f"sample folder {SAMPLES} is missing: the project expects ../shared beside it")
    return SAMPLES


@pytest.fixture(scope="session")
def stack_endpoints(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """The stack the environment names, else one started for the run with the engine
    ESBRIDGE_ENGINE names (`stack up --engine`; Elasticsearch 9 when unset)."""
    bootstrap = os.environ.get("ESBRIDGE_KAFKA_BOOTSTRAP")
    es_url = os.environ.get("ESBRIDGE_ES_URL")
    if bootstrap and es_url:
        yield {"kafka_bootstrap": bootstrap, "es_url": es_url}
        return
    options = StackOptions(
        directory=tmp_path_factory.mktemp("stack"),
        kafka_port=0,
        es_port=0,
        engine=os.environ.get("ESBRIDGE_ENGINE") or None,
    )
    stack = Stack(options)
    info = stack.up()
    try:
        yield {"kafka_bootstrap": info.kafka.bootstrap, "es_url": info.elasticsearch.url}
    finally:
        stack.down()


@dataclass(frozen=True)
class SaslKafka:
    """A broker of its own with a SASL_PLAINTEXT/SCRAM-SHA-512 listener (`stack up --kafka-sasl`)
    and its PLAINTEXT one, for checking from outside what went through."""

    bootstrap: str
    plaintext_bootstrap: str
    mechanism: str
    username: str
    password: str


@pytest.fixture(scope="session")
def sasl_kafka(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SaslKafka]:
    """Only Kafka, not the whole stack: a KRaft broker starts in about 7 s here."""
    sasl = SaslListener(process.free_port(), secrets.token_urlsafe(12))
    node = KafkaNode(
        tmp_path_factory.mktemp("sasl-kafka"), process.free_port(), process.free_port(), sasl
    )
    pid = node.start()
    try:
        node.wait_healthy(pid, time.monotonic() + 120)
        yield SaslKafka(
            sasl.bootstrap, node.bootstrap, sasl.mechanism, sasl.username, sasl.password
        )
    finally:
        process.stop_group(pid)


@pytest.fixture(scope="session")
def kafka_bootstrap(stack_endpoints: dict[str, str]) -> str:
    return stack_endpoints["kafka_bootstrap"]


@pytest.fixture(scope="session")
def es_url(stack_endpoints: dict[str, str]) -> str:
    return stack_endpoints["es_url"]


@pytest.fixture(scope="session")
def es(es_url: str) -> Iterator[Elasticsearch]:
    client = Elasticsearch(es_url, request_timeout=60)
    yield client
    client.close()


@pytest.fixture(scope="session")
def search_cluster(es_url: str) -> Iterator[SearchCluster]:
    """The session's node through esbridge's own layer, as the commands talk to it."""
    cluster = SearchCluster.connect([es_url], request_timeout=60)
    yield cluster
    cluster.close()


@pytest.fixture
def unique_name(es: Elasticsearch) -> Iterator[Callable[[str], str]]:
    """Lowercase names unique to this test; indices and templates so named are deleted after."""
    made: list[str] = []

    def make(prefix: str) -> str:
        name = f"{prefix}-{uuid.uuid4().hex[:10]}".lower()
        made.append(name)
        return name

    yield make
    for name in made:
        found = es.indices.get(index=f"{name}*", expand_wildcards="all", allow_no_indices=True)
        if found:
            es.indices.delete(index=",".join(found))
        es.options(ignore_status=404).indices.delete_index_template(name=f"{name}*")
        es.options(ignore_status=404).cluster.delete_component_template(name=f"{name}*")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Everything under tests/integration talks to the real servers; mark it so."""
    for item in items:
        if "integration" in item.path.parts:
            item.add_marker(pytest.mark.integration)
