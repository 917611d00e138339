"""The Kafka side on confluent-kafka (librdkafka): the same contract as `KafkaSource`, ~30x
less CPU per message, for sites where the bridge shares its cores (`kafka.backend: confluent`).

librdkafka runs rebalance callbacks inside `consume()` on the calling thread, so commits made
there may block.
"""

from __future__ import annotations

import logging
from typing import Any

from confluent_kafka import (
    OFFSET_INVALID,
    Consumer,
    KafkaError,
    KafkaException,
    TopicCollection,
    TopicPartition,
)
from confluent_kafka.admin import AdminClient

from esbridge.config import KafkaConfig
from esbridge.ingest.kafka.base import Partition, PartitionsCallback, topic_id_text
from esbridge.ingest.message import Message

log = logging.getLogger("esbridge.source")


def consumer_settings(config: KafkaConfig) -> dict[str, Any]:
    settings: dict[str, Any] = {
        "bootstrap.servers": ",".join(config.bootstrap),
        "group.id": config.group_id,
        "client.id": config.client_id,
        "enable.auto.commit": False,
        "enable.auto.offset.store": False,
        "auto.offset.reset": config.auto_offset_reset,
        "session.timeout.ms": config.session_timeout_ms,
        "max.poll.interval.ms": config.max_poll_interval_ms,
        "security.protocol": config.security_protocol,
        "queued.max.messages.kbytes": 65536,
        "fetch.max.bytes": 64 * 1024 * 1024,
        "max.partition.fetch.bytes": 16 * 1024 * 1024,
        "logger": logging.getLogger("esbridge.librdkafka"),
    }
    if config.sasl_mechanism:
        settings["sasl.mechanism"] = config.sasl_mechanism
        settings["sasl.username"] = config.sasl_username
        if config.sasl_password is not None:
            settings["sasl.password"] = config.sasl_password.get_secret_value()
    for key, name in (
        ("ssl_cafile", "ssl.ca.location"),
        ("ssl_certfile", "ssl.certificate.location"),
        ("ssl_keyfile", "ssl.key.location"),
    ):
        value = getattr(config, key)
        if value is not None:
            settings[name] = str(value)
    return settings


def admin_settings(config: KafkaConfig) -> dict[str, Any]:
    """The consumer's connection and security settings, without its consumer-only ones."""
    return {
        key: value
        for key, value in consumer_settings(config).items()
        if key in ("bootstrap.servers", "client.id", "security.protocol", "logger")
        or key.startswith(("sasl.", "ssl."))
    }


def uuid_bytes(uuid: Any) -> bytes:
    """librdkafka's Uuid as 16 bytes (its two halves are signed 64-bit integers)."""
    mask = 2**64 - 1
    high: int = uuid.get_most_significant_bits() & mask
    low: int = uuid.get_least_significant_bits() & mask
    return high.to_bytes(8, "big") + low.to_bytes(8, "big")


def as_partitions(tps: list[Any]) -> set[Partition]:
    return {(tp.topic, tp.partition) for tp in tps}


class ConfluentSource:
    def __init__(self, config: KafkaConfig) -> None:
        self.consumer = Consumer(consumer_settings(config))
        self.paused = False
        self.config = config
        self.admin: AdminClient | None = None

    def subscribe(
        self, topics: list[str], on_revoked: PartitionsCallback, on_assigned: PartitionsCallback
    ) -> None:
        self.consumer.subscribe(
            topics,
            on_assign=lambda _c, tps: on_assigned(as_partitions(tps)),
            on_revoke=lambda _c, tps: on_revoked(as_partitions(tps)),
        )

    def poll(self, timeout: float, max_records: int) -> list[Message]:
        messages = []
        for record in self.consumer.consume(num_messages=max(1, max_records), timeout=timeout):
            error = record.error()
            if error is None:
                # A message without an error always has topic, partition and offset.
                topic, partition, offset = record.topic() or "", record.partition(), record.offset()
                messages.append(Message(topic, partition or 0, offset or 0, record.value()))
            elif error.code() != KafkaError._PARTITION_EOF:
                if error.fatal():
                    raise KafkaException(error)
                log.warning("kafka: %s", error)
        return messages

    def commit(self, offsets: dict[Partition, int], *, blocking: bool = True) -> None:
        commits = [TopicPartition(topic, part, offset) for (topic, part), offset in offsets.items()]
        if blocking:
            self.consumer.commit(offsets=commits, asynchronous=False)
        else:
            self.consumer.commit(offsets=commits, asynchronous=True)

    def pause(self) -> None:
        self.consumer.pause(self.consumer.assignment())
        self.paused = True

    def resume(self) -> None:
        if self.paused:
            self.consumer.resume(self.consumer.assignment())
            self.paused = False

    def positions(self) -> list[tuple[int, int]]:
        """(position, end) per assigned partition; the committed offset when nothing was read."""
        assignment = self.consumer.assignment()
        out = []
        for tp, committed in zip(
            self.consumer.position(assignment),
            self.consumer.committed(assignment, timeout=5),
            strict=True,
        ):
            low, high = self.consumer.get_watermark_offsets(tp, timeout=5, cached=False)
            position = tp.offset if tp.offset != OFFSET_INVALID else committed.offset
            out.append((position if position >= 0 else low, high))
        return out

    def drained(self) -> bool:
        if not self.consumer.assignment():
            return False
        return all(position >= end for position, end in self.positions())

    def lag(self) -> int | None:
        return sum(max(0, end - position) for position, end in self.positions())

    def close(self) -> None:
        self.consumer.close()

    def topic_ids(self, topics: set[str]) -> dict[str, str]:
        """Asked of the admin API: librdkafka's consumer metadata carries no topic ids. Called
        inside `consume()` on the main thread (librdkafka's rebalance callbacks), so it may
        block; the admin client is made on first use and kept."""
        if self.admin is None:
            self.admin = AdminClient(admin_settings(self.config))
        futures = self.admin.describe_topics(TopicCollection(sorted(topics)), request_timeout=15)
        ids = {}
        for topic, future in futures.items():
            text = topic_id_text(uuid_bytes(future.result(timeout=20).topic_id))
            if text is not None:
                ids[topic] = text
        return ids
