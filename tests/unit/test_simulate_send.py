"""`send` accounts for every message and never swallows a delivery error; the pacing holds."""

from __future__ import annotations

from collections.abc import Callable
from types import SimpleNamespace
from typing import Any, ClassVar

import pytest
from kafka.errors import KafkaTimeoutError, MessageSizeTooLargeError

from esbridge.simulate import SendError, TokenBucket, send
from esbridge.simulate import producer as producer_module

TOPICS = {"billing": "t-billing", "logs": "t-logs"}


class FakeFuture:
    def __init__(self) -> None:
        self.callbacks: list[Callable[[Any], None]] = []
        self.errbacks: list[Callable[[BaseException], None]] = []

    def add_callback(self, f: Callable[[Any], None]) -> FakeFuture:
        self.callbacks.append(f)
        return self

    def add_errback(self, f: Callable[[BaseException], None]) -> FakeFuture:
        self.errbacks.append(f)
        return self


class FakeProducer:
    """Records what it is given; `flush` completes the futures, failing those `fail` picks."""

    made: ClassVar[list[FakeProducer]] = []
    fail: Callable[[str, bytes], BaseException | None] = staticmethod(lambda topic, value: None)

    def __init__(self, **config: Any) -> None:
        self.config = config
        self.pending: list[tuple[str, bytes, FakeFuture]] = []
        self.closed = False
        FakeProducer.made.append(self)

    def send(self, topic: str, value: bytes) -> FakeFuture:
        if value == b"refuse":
            raise KafkaTimeoutError("no metadata for topic")
        future = FakeFuture()
        self.pending.append((topic, value, future))
        return future

    def flush(self) -> None:
        for topic, value, future in self.pending:
            error = FakeProducer.fail(topic, value)
            for errback in future.errbacks if error else []:
                errback(error)  # type: ignore[arg-type]
            for callback in [] if error else future.callbacks:
                callback(SimpleNamespace(topic=topic, partition=0))
        self.pending.clear()

    def close(self, timeout: float | None = None) -> None:
        self.closed = True


@pytest.fixture(autouse=True)
def fake_producer(monkeypatch: pytest.MonkeyPatch) -> None:
    FakeProducer.made.clear()
    FakeProducer.fail = staticmethod(lambda topic, value: None)
    monkeypatch.setattr(producer_module, "KafkaProducer", FakeProducer)


def test_counts_per_topic_with_the_producer_settings_asked_for() -> None:
    seen: list[int] = []
    messages = [("billing", b"{}"), ("logs", b'{"a":1}'), ("billing", b"[]")]

    report = send("k1:9092", TOPICS, messages, None, progress=seen.append)

    assert report.per_topic == {"t-billing": 2, "t-logs": 1}
    assert report.total == 3 and report.bytes == 11
    (producer,) = FakeProducer.made
    assert producer.config["bootstrap_servers"] == ["k1:9092"]
    assert producer.config["acks"] == "all" and producer.config["linger_ms"] == 20
    assert producer.config["compression_type"] is None
    assert producer.closed
    assert seen[-1] == 3


def test_producer_config_overrides_the_defaults() -> None:
    send(["a:1", "b:2"], TOPICS, [], None, producer_config={"compression_type": "gzip"})
    config = FakeProducer.made[0].config
    assert config["compression_type"] == "gzip"
    assert config["bootstrap_servers"] == ["a:1", "b:2"]


def test_a_failed_delivery_raises_with_the_topic_and_the_cause() -> None:
    FakeProducer.fail = staticmethod(
        lambda topic, value: MessageSizeTooLargeError("too big") if value == b"big" else None
    )
    messages = [("billing", b"ok"), ("logs", b"big"), ("billing", b"ok")]

    with pytest.raises(SendError, match=r"'t-logs' failed for 1 of 3.*too big") as caught:
        send("k:1", TOPICS, messages, None)

    assert isinstance(caught.value.__cause__, MessageSizeTooLargeError)
    assert FakeProducer.made[0].closed


def test_a_message_the_producer_refuses_raises() -> None:
    with pytest.raises(SendError, match="refused a message for topic 't-billing'"):
        send("k:1", TOPICS, [("billing", b"refuse")], None)
    assert FakeProducer.made[0].closed


def test_a_kind_without_topic_is_an_error_not_a_drop() -> None:
    with pytest.raises(ValueError, match="no topic for messages of kind 'access'"):
        send("k:1", TOPICS, [("billing", b"{}"), ("access", b"{}")], None)
    assert FakeProducer.made[0].closed


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.mark.parametrize("rate", [0.5, 100.0, 50_000.0])
def test_token_bucket_paces_to_the_rate(rate: float) -> None:
    clock = FakeClock()
    bucket = TokenBucket(rate, clock=clock, sleep=clock.sleep)
    takes = int(rate * 10) + 1

    for _ in range(takes):
        bucket.take()

    assert clock.now - 100.0 == pytest.approx(10.0, rel=0.01)
    assert min(clock.sleeps) >= min(0.002, 1 / rate)  # no busy micro-sleeps at high rates


def test_token_bucket_allows_a_short_burst_after_idling() -> None:
    clock = FakeClock()
    bucket = TokenBucket(100.0, clock=clock, sleep=clock.sleep)
    clock.now += 60.0  # idle for a minute: at most a tenth of a second is saved up
    for _ in range(10):
        bucket.take()
    assert clock.sleeps == []
    bucket.take()
    bucket.take()
    assert clock.sleeps


def test_token_bucket_refuses_a_non_positive_rate() -> None:
    with pytest.raises(ValueError, match="positive"):
        TokenBucket(0)
