"""The stack's servers are the real thing: Apache Kafka and Elasticsearch, not stand-ins."""

from __future__ import annotations

import subprocess
import uuid
from pathlib import Path

from elasticsearch import Elasticsearch
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition

from esbridge.stack import process
from esbridge.stack.artifacts import kafka_libs
from esbridge.stack.jdk import find_jdk
from esbridge.stack.kafka import KafkaNode, format_command


def test_kafka_broker_round_trips_messages_and_commits_group_offsets(kafka_bootstrap: str) -> None:
    topic = f"stack-check-{uuid.uuid4().hex[:8]}"
    group = f"group-{uuid.uuid4().hex[:8]}"
    producer = KafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
    for i in range(5):
        producer.send(topic, f"message-{i}".encode())
    producer.flush()
    producer.close()

    consumer = KafkaConsumer(
        topic,
        bootstrap_servers=kafka_bootstrap,
        group_id=group,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        consumer_timeout_ms=15000,
    )
    received = [record.value for _, record in zip(range(5), consumer, strict=False)]
    consumer.commit()
    committed = consumer.committed(TopicPartition(topic, 0))
    consumer.close()

    assert received == [f"message-{i}".encode() for i in range(5)]
    assert committed == 5
    admin = KafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    try:
        offsets = admin.list_group_offsets(group)[group]
        assert offsets[TopicPartition(topic, 0)].offset == 5
        admin.delete_topics([topic])
    finally:
        admin.close()


def test_elasticsearch_node_is_real_version_9_with_product_header(es: Elasticsearch) -> None:
    nodes = es.nodes.info(node_id="_local", filter_path="nodes.*.version")
    versions = [node["version"] for node in nodes["nodes"].values()]
    health = es.cluster.health()

    assert len(versions) == 1 and versions[0].startswith("9.")
    assert health.meta.headers["x-elastic-product"] == "Elasticsearch"
    assert health["status"] in ("green", "yellow")


def test_elasticsearch_indexes_and_searches_a_document(es: Elasticsearch, unique_name) -> None:
    index = unique_name("stack-check")
    es.index(index=index, id="1", document={"pool": "pool-a", "bytes": 3 * 2**31}, refresh=True)

    hits = es.search(index=index, query={"term": {"pool.keyword": "pool-a"}})["hits"]

    assert hits["total"]["value"] == 1
    assert hits["hits"][0]["_source"]["bytes"] == 3 * 2**31


def test_kafka_storage_formats_with_a_cluster_id_that_begins_with_a_dash(tmp_path: Path) -> None:
    """About 1 random id in 64 begins with '-'; kafka-storage must take it as the id."""
    node = KafkaNode(tmp_path, process.free_port(), process.free_port())
    (tmp_path / "server.properties").write_text(node.server_properties())
    java = find_jdk(17, "Apache Kafka").java

    result = subprocess.run(
        format_command(java, f"{kafka_libs()}/*", "-AAAAAAAAAAAAAAAAAAAAA", node.marker),
        capture_output=True,
        text=True,
        check=False,
    )

    assert result.returncode == 0, result.stderr
    meta = (tmp_path / "data" / "meta.properties").read_text()
    assert "cluster.id=-AAAAAAAAAAAAAAAAAAAAA\n" in meta
