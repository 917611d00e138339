"""The Kafka side on kafka-python, the pure-Python client (`kafka.backend: kafka-python`).

kafka-python is not thread-safe, so every call here happens on the pipeline's main thread.
"""

from __future__ import annotations

import logging
from typing import Any

from kafka import ConsumerRebalanceListener, KafkaConsumer, OffsetAndMetadata, TopicPartition

from esbridge.config import KafkaConfig
from esbridge.ingest.kafka.base import Partition, PartitionsCallback, topic_id_text
from esbridge.ingest.message import Message

log = logging.getLogger("esbridge.source")


def consumer_settings(config: KafkaConfig, max_poll_records: int) -> dict[str, Any]:
    settings: dict[str, Any] = {
        "bootstrap_servers": list(config.bootstrap),
        "group_id": config.group_id,
        "client_id": config.client_id,
        "enable_auto_commit": False,
        "auto_offset_reset": config.auto_offset_reset,
        "session_timeout_ms": config.session_timeout_ms,
        "max_poll_interval_ms": config.max_poll_interval_ms,
        "max_poll_records": max_poll_records,
        "fetch_max_bytes": 64 * 1024 * 1024,
        "max_partition_fetch_bytes": 16 * 1024 * 1024,
        "security_protocol": config.security_protocol,
    }
    if config.sasl_mechanism:
        settings["sasl_mechanism"] = config.sasl_mechanism
        settings["sasl_plain_username"] = config.sasl_username
        if config.sasl_password is not None:
            settings["sasl_plain_password"] = config.sasl_password.get_secret_value()
    for key in ("ssl_cafile", "ssl_certfile", "ssl_keyfile"):
        value = getattr(config, key)
        if value is not None:
            settings[key] = str(value)
    return settings


def log_async_commit(offsets: Any, response: Any) -> None:
    if isinstance(response, Exception):
        log.warning("commit on revoke failed; the next owner re-reads from there: %s", response)


class Rebalance(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(
        self,
        on_revoked: PartitionsCallback,
        on_assigned: PartitionsCallback,
    ) -> None:
        self.revoked = on_revoked
        self.assigned = on_assigned

    def on_partitions_revoked(self, revoked: Any) -> None:
        self.revoked({(tp.topic, tp.partition) for tp in revoked})

    def on_partitions_assigned(self, assigned: Any) -> None:
        self.assigned({(tp.topic, tp.partition) for tp in assigned})


class KafkaSource:
    def __init__(self, config: KafkaConfig, max_poll_records: int) -> None:
        self.consumer = KafkaConsumer(**consumer_settings(config, max_poll_records))
        self.paused = False

    def subscribe(
        self, topics: list[str], on_revoked: PartitionsCallback, on_assigned: PartitionsCallback
    ) -> None:
        self.consumer.subscribe(topics, listener=Rebalance(on_revoked, on_assigned))

    def poll(self, timeout: float, max_records: int) -> list[Message]:
        batches = self.consumer.poll(timeout_ms=int(timeout * 1000), max_records=max_records)
        return [
            Message(record.topic, record.partition, record.offset, record.value)
            for records in batches.values()
            for record in records
        ]

    def commit(self, offsets: dict[Partition, int], *, blocking: bool = True) -> None:
        """`blocking=False` from rebalance callbacks, which run on the client's network thread."""
        commits = {
            TopicPartition(topic, partition): OffsetAndMetadata(offset, "", -1)
            for (topic, partition), offset in offsets.items()
        }
        if blocking:
            self.consumer.commit(commits)
        else:
            self.consumer.commit_async(commits, callback=log_async_commit)

    def pause(self) -> None:
        """Stops fetching while Elasticsearch pushes back; poll() still keeps the membership."""
        self.consumer.pause(*self.consumer.assignment())  # again: a rebalance may add partitions
        self.paused = True

    def resume(self) -> None:
        if self.paused:
            self.consumer.resume(*self.consumer.paused())
            self.paused = False

    def drained(self) -> bool:
        """Partitions are assigned and consumed up to their current end."""
        assignment = self.consumer.assignment()
        if not assignment:
            return False
        ends = self.consumer.end_offsets(list(assignment))
        return all(self.consumer.position(tp) >= ends[tp] for tp in assignment)

    def lag(self) -> int | None:
        """Messages behind the end of the assigned partitions, as last seen by fetches."""
        total = 0
        for tp in self.consumer.assignment():
            end = self.consumer.highwater(tp)
            if end is None:
                return None
            total += max(0, end - self.consumer.position(tp, timeout_ms=1000))
        return total

    def close(self) -> None:
        self.consumer.close(autocommit=False)

    def topic_ids(self, topics: set[str]) -> dict[str, str]:
        """From the metadata the consumer already holds for its subscription: no request, so
        safe on the client's network thread, where kafka-python runs the rebalance callbacks.
        kafka-python keeps topic ids only on its (private) cluster metadata."""
        cluster = self.consumer._cluster
        ids = {}
        for topic in topics:
            topic_id = cluster.topic_id(topic)
            if topic_id is None and cluster.partitions_for_topic(topic) is None:
                raise RuntimeError(f"no metadata for topic {topic} yet")
            text = topic_id_text(topic_id.bytes) if topic_id is not None else None
            if text is not None:
                ids[topic] = text
        return ids
