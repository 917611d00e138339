"""Publishing one cycle's snapshots to Kafka, every delivery accounted for.

The producer waits for all in-sync replicas (`acks=all`) and is idempotent, so a retry after a
lost acknowledgement cannot write a snapshot twice. Both client libraries of `kafka.backend`
are supported, with ingest's connection settings (esbridge/ingest/kafka/settings.py), so
whatever reaches a secured Kafka for ingest reaches it for the poller.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from collections.abc import Sequence
from typing import IO, Any, Protocol

import orjson

from esbridge.config import KafkaConfig
from esbridge.errors import EsbridgeError
from esbridge.ingest.kafka.errors import ConnectionWatch, bootstrap_check
from esbridge.ingest.kafka.settings import (
    describe_login,
    kafka_python_settings,
    librdkafka_settings,
)

client_log = logging.getLogger("esbridge.librdkafka")

Messages = Sequence[tuple[str, bytes]]
"""(key, value) pairs: pool name and its snapshot as JSON."""


class PublishError(EsbridgeError):
    """Kafka did not acknowledge every message of a cycle; says how many and why."""


class Publisher(Protocol):
    """Where a cycle's snapshots go: all acknowledged when `publish` returns, or it raises."""

    def publish(self, messages: Messages) -> None: ...

    def close(self) -> None: ...


def delivery_timeout(config: KafkaConfig) -> float:
    """Seconds a cycle's messages may take to be acknowledged: at least a minute, at least the
    connect timeout. The clients give up on a message at the same time, so a message reported
    failed is never delivered behind the report's back."""
    return max(60.0, config.connect_timeout)


class _Tally:
    """Acknowledgements and failures reported by the client's delivery callbacks."""

    def __init__(self) -> None:
        self.acked = 0
        self.failures: list[str] = []
        self._lock = threading.Lock()

    def ok(self) -> None:
        with self._lock:
            self.acked += 1

    def failed(self, error: object) -> None:
        with self._lock:
            self.failures.append(str(error))

    def check(self, topic: str, sent: int) -> None:
        if self.failures:
            raise PublishError(
                f"topic {topic!r}: {len(self.failures)} of {sent} snapshots not delivered "
                f"(first error: {self.failures[0]})"
            )
        if self.acked != sent:
            raise PublishError(
                f"topic {topic!r}: {self.acked} of {sent} snapshots acknowledged in time"
            )


class KafkaPythonPublisher:
    """kafka-python's producer (`kafka.backend: kafka-python`)."""

    def __init__(self, config: KafkaConfig, topic: str) -> None:
        from kafka import KafkaProducer  # noqa: PLC0415 - imported only when chosen
        from kafka.errors import KafkaError  # noqa: PLC0415

        self._topic = topic
        self._timeout = delivery_timeout(config)
        settings: dict[str, Any] = {
            **kafka_python_settings(config),
            "acks": "all",
            "enable_idempotence": True,
            "linger_ms": 5,
            "delivery_timeout_ms": int(self._timeout * 1000),
        }
        try:
            self._producer = KafkaProducer(**settings)
        except KafkaError as exc:
            where = ",".join(config.bootstrap)
            raise PublishError(
                f"cannot start a Kafka producer for {where} ({describe_login(config)}): {exc}; "
                f"{bootstrap_check(config.security_protocol)}"
            ) from None
        self._error = KafkaError

    def publish(self, messages: Messages) -> None:
        tally = _Tally()
        for key, value in messages:
            try:
                future = self._producer.send(self._topic, key=key.encode(), value=value)
            except self._error as exc:
                tally.failed(exc)
                break
            future.add_callback(lambda _metadata: tally.ok())
            future.add_errback(tally.failed)
        try:
            self._producer.flush(timeout=self._timeout + 5)
        except self._error as exc:
            tally.failed(exc)
        tally.check(self._topic, len(messages))

    def close(self) -> None:
        self._producer.close(timeout=10)


class ConfluentPublisher:
    """confluent-kafka's producer (librdkafka; `kafka.backend: confluent`).

    librdkafka retries an unreachable broker or a refused login until the message times out
    (at least a minute); its client-wide errors feed the same `ConnectionWatch` as ingest's, so a
    cycle fails with its one line once no broker answered for `kafka.connect_timeout` (and the
    cycle waited that long: a broker back since the last cycle gets its chance).
    """

    FLUSH_STEP = 0.2
    """Seconds per flush while waiting, so the connect timeout is checked between them."""

    def __init__(self, config: KafkaConfig, topic: str) -> None:
        from confluent_kafka import Producer  # noqa: PLC0415 - imported only when chosen

        self._topic = topic
        self._timeout = delivery_timeout(config)
        self._watch = ConnectionWatch(config)
        self._producer = Producer(
            {
                **librdkafka_settings(config),
                "acks": "all",
                "enable.idempotence": True,
                "linger.ms": 5,
                "message.timeout.ms": int(self._timeout * 1000),
                "logger": client_log,
                "error_cb": self._on_error,
            }
        )

    def _on_error(self, error: Any) -> None:
        from esbridge.ingest.kafka.confluent import FAILURES  # noqa: PLC0415 - with the backend

        kind = FAILURES.get(error.code())
        if kind is None:
            client_log.warning("%s", error.str())
        else:
            self._watch.failed(kind, error.str())

    def publish(self, messages: Messages) -> None:
        from confluent_kafka import KafkaException  # noqa: PLC0415

        tally = _Tally()

        def delivered(error: Any, _message: Any) -> None:
            if error is None:
                tally.ok()
                self._watch.contact()
            else:
                tally.failed(error)

        for key, value in messages:
            try:
                self._producer.produce(
                    self._topic, key=key.encode(), value=value, on_delivery=delivered
                )
            except (BufferError, KafkaException) as exc:
                tally.failed(exc)
                break
            self._producer.poll(0)
        started = time.monotonic()
        timeout, deadline = self._watch.timeout, started + self._timeout + 5
        while self._producer.flush(self.FLUSH_STEP) and time.monotonic() < deadline:
            waited = time.monotonic() - started
            if self._watch.failing_for() >= timeout and waited >= timeout:
                self._producer.purge()  # none of them is delivered behind the error's back
                self._producer.flush(1)
                raise PublishError(str(self._watch.error()))
        tally.check(self._topic, len(messages))

    def close(self) -> None:
        self._producer.flush(10)


class PrintPublisher:
    """`--dry-run`: each snapshot as one JSON line on `out`, keys sorted; nothing is sent."""

    def __init__(self, out: IO[str] | None = None) -> None:
        self._out = out or sys.stdout

    def publish(self, messages: Messages) -> None:
        for _key, value in messages:
            line = orjson.dumps(orjson.loads(value), option=orjson.OPT_SORT_KEYS).decode()
            print(line, file=self._out)
        self._out.flush()

    def close(self) -> None:
        self._out.flush()


def open_publisher(config: KafkaConfig, topic: str) -> Publisher:
    """The producer of `kafka.backend` for `topic`."""
    if config.backend == "confluent":
        return ConfluentPublisher(config, topic)
    return KafkaPythonPublisher(config, topic)
