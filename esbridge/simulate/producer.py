"""Sending simulated traffic to Kafka at a steady rate, with every delivery accounted for.

A failed delivery is never dropped silently: the first error stops the run and `send` raises
`SendError` once what was already handed to the producer has been flushed.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from kafka import KafkaProducer
from kafka.errors import KafkaError

from esbridge.errors import EsbridgeError
from esbridge.ingest.kafka.errors import bootstrap_check
from esbridge.simulate.incidents import Incident
from esbridge.simulate.streams import DEFAULT_LOG_ZONE, DEFAULT_RATE, generate_incidents, mix

PRODUCER_DEFAULTS: dict[str, Any] = {
    "acks": "all",
    "linger_ms": 20,
    "batch_size": 1 << 20,
    "compression_type": None,
}
MIN_SLEEP = 0.002  # below this, sleeping costs more than it paces
PROGRESS_EVERY = 1.0  # seconds between progress calls


class SendError(EsbridgeError):
    """Kafka did not take every message; the message says which topic and why."""


@dataclass(frozen=True)
class SendReport:
    """Messages acknowledged per topic (all of those sent, or `send` would have raised)."""

    per_topic: dict[str, int]
    bytes: int
    seconds: float

    @property
    def total(self) -> int:
        return sum(self.per_topic.values())

    @property
    def rate(self) -> float:
        return self.total / self.seconds if self.seconds > 0 else 0.0


@dataclass(frozen=True)
class SimulationReport:
    """What a run sent, and the incidents it injected: the answer key for the watcher."""

    sent: SendReport
    incidents: list[Incident]


class TokenBucket:
    """Paces `take()` to `rate` per second on average, with bursts of at most a tenth of a second.

    Sleeps at least `MIN_SLEEP`, so high rates are reached in small bursts rather than missed
    because the OS cannot sleep for 20 microseconds.
    """

    def __init__(
        self,
        rate: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if not rate > 0:
            raise ValueError(f"rate must be positive, got {rate}")
        self._rate = rate
        self._capacity = max(1.0, rate / 10)
        self._tokens = 1.0
        self._clock = clock
        self._sleep = sleep
        self._last = clock()

    def take(self) -> None:
        if self._tokens < 1.0:
            self._refill()
            if self._tokens < 1.0:
                self._sleep(max((1.0 - self._tokens) / self._rate, MIN_SLEEP))
                self._refill()
        self._tokens -= 1.0

    def _refill(self) -> None:
        now = self._clock()
        self._tokens = min(self._capacity, self._tokens + (now - self._last) * self._rate)
        self._last = now


class _Deliveries:
    """Counts what was sent and what Kafka acknowledged per topic; keeps every failure.

    The callbacks run in the producer's I/O thread (or in ours, when a future is already done).
    """

    def __init__(self, topics: Iterable[str]) -> None:
        self.sent = dict.fromkeys(topics, 0)
        self.acked = dict.fromkeys(self.sent, 0)
        self.failures: list[tuple[str, BaseException]] = []
        self._lock = threading.Lock()
        self._errbacks = {topic: self._failed_for(topic) for topic in self.sent}

    def track(self, topic: str, future: Any) -> None:
        self.sent[topic] += 1
        future.add_callback(self._delivered)
        future.add_errback(self._errbacks[topic])

    def check(self) -> None:
        """Raise `SendError` unless every message sent was acknowledged."""
        if self.failures:
            topic, error = self.failures[0]
            total = sum(self.sent.values())
            raise SendError(
                f"delivery to topic {topic!r} failed for {len(self.failures)} of {total} "
                f"messages (first error: {error!r}); {sum(self.acked.values())} acknowledged"
            ) from error
        if self.acked != self.sent:
            raise SendError(f"Kafka acknowledged {self.acked} of the messages sent {self.sent}")

    def _delivered(self, metadata: Any) -> None:
        with self._lock:
            self.acked[metadata.topic] += 1

    def _failed_for(self, topic: str) -> Callable[[BaseException], None]:
        def failed(error: BaseException) -> None:
            with self._lock:
                self.failures.append((topic, error))

        return failed


def send(
    bootstrap: str | Sequence[str],
    topics: Mapping[str, str],
    messages: Iterable[tuple[str, bytes]],
    rate: float | None,
    *,
    producer_config: Mapping[str, Any] | None = None,
    progress: Callable[[int], None] | None = None,
) -> SendReport:
    """Send (kind, payload) pairs to `topics[kind]`, `rate` per second (None or 0: unpaced).

    `producer_config` overrides `PRODUCER_DEFAULTS` (acks=all, linger 20 ms, 1 MiB batches, no
    compression); the command line passes ingest's client settings of `kafka:`
    (`kafka_python_settings`: security, credentials, connect timeout). `progress` gets the number
    sent so far about once a second, and at the end. Stops at the first failed delivery; raises
    `SendError` for it after flushing the rest.
    """
    servers = [bootstrap] if isinstance(bootstrap, str) else list(bootstrap)
    config = {**PRODUCER_DEFAULTS, **(producer_config or {}), "bootstrap_servers": servers}
    try:
        producer = KafkaProducer(**config)
    except KafkaError as exc:
        login = " ".join(
            str(config[key]) for key in ("security_protocol", "sasl_mechanism") if key in config
        )
        where = f"{','.join(servers)} ({login})" if login else ",".join(servers)
        check = bootstrap_check(str(config.get("security_protocol", "PLAINTEXT")))
        raise SendError(f"cannot start a Kafka producer for {where}: {exc}; {check}") from exc
    deliveries = _Deliveries(topics.values())
    bucket = TokenBucket(rate) if rate else None
    started = last_progress = time.monotonic()
    total = size = 0
    try:
        for kind, payload in messages:
            if deliveries.failures:
                break
            topic = topics.get(kind)
            if topic is None:
                raise ValueError(f"no topic for messages of kind {kind!r} (topics: {dict(topics)})")
            if bucket is not None:
                bucket.take()
            try:
                deliveries.track(topic, producer.send(topic, value=payload))
            except KafkaError as exc:
                raise SendError(f"Kafka refused a message for topic {topic!r}: {exc}") from exc
            total += 1
            size += len(payload)
            if progress is not None and not total & 0xFF:
                now = time.monotonic()
                if now - last_progress >= PROGRESS_EVERY:
                    progress(total)
                    last_progress = now
        error = _flush(producer)
    finally:
        close_error = _close(producer)
    deliveries.check()  # the failed deliveries say more than the flush that saw them fail
    error = error or close_error
    if error is not None:
        raise SendError(f"flushing {total} messages to Kafka failed: {error}") from error
    if progress is not None:
        progress(total)
    return SendReport(deliveries.acked, size, time.monotonic() - started)


def _flush(producer: Any) -> KafkaError | None:
    """The error flushing raised, if any: to be reported after the deliveries' own errors."""
    try:
        producer.flush()
    except KafkaError as exc:
        return exc
    return None


def _close(producer: Any) -> KafkaError | None:
    """Close (which flushes again); an error must not hide the one that made us stop.

    kafka-python 3.0.12 cannot close after a batch split on MESSAGE_TOO_LARGE went fatal: its
    flush raises "Future not done" before the I/O thread is stopped, and again from `__del__`.
    So stop that thread ourselves and mark the producer closed.
    """
    try:
        producer.close(timeout=10)
    except KafkaError as exc:
        sender = getattr(producer, "_sender", None)
        if sender is not None:
            sender.force_close()
        producer._closed = True
        return exc
    return None


def run_simulation(
    bootstrap: str | Sequence[str],
    topics_by_kind: Mapping[str, str],
    rate: float | None,
    count: int,
    *,
    incidents: bool = False,
    seed: int = 0,
    start: datetime | None = None,
    log_zone: str = DEFAULT_LOG_ZONE,
    producer_config: Mapping[str, Any] | None = None,
    progress: Callable[[int], None] | None = None,
) -> SimulationReport:
    """`count` messages of a live-looking site to the topics of the kinds given, `rate`/s.

    Simulated time starts now (or `start`) and advances at `rate`, so timestamps track the wall
    clock while sending; unpaced runs (rate None or 0) simulate `DEFAULT_RATE` per second.
    """
    sim_rate = rate or DEFAULT_RATE
    begin = start or datetime.now(UTC)
    planned = generate_incidents(count, seed=seed, start=begin, rate=sim_rate) if incidents else []
    messages = mix(
        count,
        seed=seed,
        incidents=incidents,
        start=begin,
        rate=sim_rate,
        log_zone=log_zone,
        kinds=tuple(topics_by_kind),
    )
    report = send(
        bootstrap,
        topics_by_kind,
        messages,
        rate,
        producer_config=producer_config,
        progress=progress,
    )
    return SimulationReport(report, planned)
