"""Kafka consumers behind one `Source` protocol: kafka-python and confluent-kafka (librdkafka)."""

from __future__ import annotations

from esbridge.config import KafkaConfig
from esbridge.ingest.kafka.base import Partition, PartitionsCallback, Source
from esbridge.ingest.kafka.errors import KafkaUnavailableError


def open_source(config: KafkaConfig, max_poll_records: int) -> Source:
    """The consumer for `kafka.backend`, not yet subscribed; each client library is imported
    only when chosen. Raises `KafkaUnavailableError` when kafka-python finds no broker."""
    if config.backend == "confluent":
        from esbridge.ingest.kafka.confluent import ConfluentSource  # noqa: PLC0415

        return ConfluentSource(config)
    from esbridge.ingest.kafka.kafka_python import KafkaSource  # noqa: PLC0415

    return KafkaSource(config, max_poll_records)


__all__ = ["KafkaUnavailableError", "Partition", "PartitionsCallback", "Source", "open_source"]
