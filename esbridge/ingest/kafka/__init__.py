"""Kafka consumers behind one `Source` protocol: kafka-python and confluent-kafka (librdkafka)."""

from __future__ import annotations

from esbridge.config import KafkaConfig
from esbridge.ingest.kafka.base import Partition, PartitionsCallback, Source


def open_source(
    config: KafkaConfig,
    topics: list[str],
    max_poll_records: int,
    on_revoked: PartitionsCallback,
    on_assigned: PartitionsCallback,
) -> Source:
    """The consumer for `kafka.backend`; each client library is imported only when chosen."""
    if config.backend == "confluent":
        from esbridge.ingest.kafka.confluent import ConfluentSource  # noqa: PLC0415

        return ConfluentSource(config, topics, max_poll_records, on_revoked, on_assigned)
    from esbridge.ingest.kafka.kafka_python import KafkaSource  # noqa: PLC0415

    return KafkaSource(config, topics, max_poll_records, on_revoked, on_assigned)


__all__ = ["Partition", "PartitionsCallback", "Source", "open_source"]
