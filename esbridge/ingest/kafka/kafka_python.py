"""The Kafka side on kafka-python, the pure-Python client (`kafka.backend: kafka-python`).

kafka-python is not thread-safe, so every call here happens on the pipeline's main thread.
"""

from __future__ import annotations

import logging
import ssl
from collections.abc import Mapping
from typing import Any

from kafka import ConsumerRebalanceListener, KafkaConsumer, OffsetAndMetadata, TopicPartition
from kafka.errors import (
    KafkaConnectionError,
    KafkaError,
    SaslAuthenticationFailedError,
    UnsupportedSaslMechanismError,
)

from esbridge.config import KafkaConfig
from esbridge.ingest.kafka.base import Partition, PartitionsCallback, topic_id_text
from esbridge.ingest.kafka.errors import ConnectionWatch, FailureKind
from esbridge.ingest.kafka.settings import kafka_python_settings
from esbridge.ingest.message import Message

log = logging.getLogger("esbridge.source")

LAG_TIMEOUT_MS = 2_000
"""A lag lookup is informational: while a broker is down it must not hold the loop (and with
it the outage watch and its one-line error) for kafka-python's 30 s request timeout."""
REQUEST_TIMEOUT = 10.0
"""Seconds a blocking commit or the close may take at most (kafka-python's default is its
request timeout, five minutes, during which nothing else would run)."""


def consumer_settings(config: KafkaConfig, max_poll_records: int) -> dict[str, Any]:
    return {
        **kafka_python_settings(config),
        "group_id": config.group_id,
        "enable_auto_commit": False,
        "auto_offset_reset": config.auto_offset_reset,
        "session_timeout_ms": config.session_timeout_ms,
        "max_poll_interval_ms": config.max_poll_interval_ms,
        "max_poll_records": max_poll_records,
        "fetch_max_bytes": 64 * 1024 * 1024,
        "max_partition_fetch_bytes": 16 * 1024 * 1024,
    }


def failure_kind(error: BaseException) -> FailureKind | None:
    """What `error` means.

    kafka-python 3.0 may read the broker's close after a refused login before its answer, and
    report only "socket disconnected" (its text for a connection the peer closed): "closed",
    not "unreachable", which is for connections that cannot be made at all.
    """
    if isinstance(error, SaslAuthenticationFailedError | UnsupportedSaslMechanismError):
        return "login"
    if isinstance(error, ssl.SSLError):
        return "tls"
    if isinstance(error, KafkaConnectionError) and (
        isinstance(error.__cause__, ssl.SSLError) or "Handshake failed" in str(error)
    ):  # kafka-python's wrapping of a failed TLS handshake (an untrusted certificate)
        return "tls"
    if isinstance(error, KafkaConnectionError) and "disconnected" in str(error):
        return "closed"
    if isinstance(error, KafkaConnectionError | ConnectionError):
        return "unreachable"
    return None


class ClientErrors(logging.Handler):
    """kafka-python reports a refused login or connection only in its log (the exception is an
    argument of the record): read it off there, for the watch."""

    def __init__(self, watch: ConnectionWatch) -> None:
        super().__init__(logging.WARNING)
        self.watch = watch

    def emit(self, record: logging.LogRecord) -> None:
        args = record.args if isinstance(record.args, tuple) else ()
        for arg in args:
            kind = failure_kind(arg) if isinstance(arg, BaseException) else None
            if kind is not None:
                self.watch.failed(kind, str(arg))
                return


def known_timestamp(timestamp: int | None) -> int | None:
    """kafka-python reports a record without a timestamp as -1."""
    return timestamp if timestamp is not None and timestamp >= 0 else None


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
        """Connects: kafka-python's constructor waits for the first broker, up to
        `kafka.connect_timeout`, and raises `KafkaUnavailableError` when none answered."""
        self.watch = ConnectionWatch(config)
        self.errors = ClientErrors(self.watch)
        logging.getLogger("kafka").addHandler(self.errors)
        try:
            self.consumer = KafkaConsumer(**consumer_settings(config, max_poll_records))
        except KafkaError as exc:
            logging.getLogger("kafka").removeHandler(self.errors)
            raise self.watch.give_up(str(exc)) from None
        self.watch.contact()
        self.paused = False
        self.stored: dict[Any, int | None] = {}
        self.stored_for: frozenset[Any] = frozenset()

    def subscribe(
        self, topics: list[str], on_revoked: PartitionsCallback, on_assigned: PartitionsCallback
    ) -> None:
        self.consumer.subscribe(topics, listener=Rebalance(on_revoked, on_assigned))

    def poll(self, timeout: float, max_records: int) -> list[Message]:
        """Raises `KafkaUnavailableError` once no broker answered for `kafka.connect_timeout`."""
        batches = self.consumer.poll(timeout_ms=int(timeout * 1000), max_records=max_records)
        messages = [
            Message(
                record.topic,
                record.partition,
                record.offset,
                record.value,
                known_timestamp(record.timestamp),
                record.key,
            )
            for records in batches.values()
            for record in records
        ]
        if messages or (self.watch.failing and self.heartbeat_since_failure()):
            self.watch.contact()
        self.watch.check()
        return messages

    def heartbeat_since_failure(self) -> bool:
        """The group coordinator was sent a heartbeat after the failure began: kafka-python
        sends one only on a connected, logged-in connection."""
        metrics = self.consumer.metrics() or {}
        ago = metrics.get("consumer-coordinator-metrics", {}).get("last-heartbeat-seconds-ago")
        return isinstance(ago, float) and ago < self.watch.failing_for()

    def commit(self, offsets: dict[Partition, int], *, blocking: bool = True) -> None:
        """`blocking=False` from rebalance callbacks, which run on the client's network thread."""
        commits = {
            TopicPartition(topic, partition): OffsetAndMetadata(offset, "", -1)
            for (topic, partition), offset in offsets.items()
        }
        if blocking:
            self.consumer.commit(commits, timeout_ms=int(REQUEST_TIMEOUT * 1000))
            self.watch.contact()
        else:
            self.consumer.commit_async(commits, callback=log_async_commit)

    def seek(self, offsets: dict[Partition, int]) -> None:
        for (topic, partition), offset in offsets.items():
            self.consumer.seek(TopicPartition(topic, partition), offset)

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

    def lag(self, committed: Mapping[Partition, int]) -> dict[Partition, int]:
        assignment = list(self.consumer.assignment())
        if not assignment:
            return {}
        ends = self.consumer.end_offsets(assignment, timeout_ms=LAG_TIMEOUT_MS)
        owned = frozenset(assignment)
        if owned != self.stored_for:  # a rebalance: what the group committed may have moved
            self.stored, self.stored_for = {}, owned
        out = {}
        for tp in assignment:
            key = (tp.topic, tp.partition)
            done = committed.get(key)
            if done is None:
                # Asked once per assignment: while this member owns the partition, only this
                # member commits it, and then `committed` has it.
                if tp not in self.stored:
                    self.stored[tp] = self.consumer.committed(tp, timeout_ms=LAG_TIMEOUT_MS)
                done = self.stored[tp]
            if done is None:  # nothing committed yet: the group starts where auto_offset_reset says
                if self.consumer.config["auto_offset_reset"] == "latest":
                    done = ends[tp]
                else:
                    done = self.consumer.beginning_offsets([tp], timeout_ms=LAG_TIMEOUT_MS)[tp]
            out[key] = max(0, ends[tp] - done)
        return out

    def close(self) -> None:
        logging.getLogger("kafka").removeHandler(self.errors)
        self.consumer.close(autocommit=False, timeout_ms=int(REQUEST_TIMEOUT * 1000))

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
