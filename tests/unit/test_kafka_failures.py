"""Kafka out of reach, over a fake clock: when the sources give up, what they say, how the
clients' repeated log lines are thinned out, and which client errors count as what. Against the
real broker (wrong password, closed port): tests/integration/test_ingest_kafka_auth.py."""

from __future__ import annotations

import json
import logging
from typing import Any, ClassVar, cast

import pytest
from confluent_kafka import KafkaError
from kafka import TopicPartition
from kafka.errors import KafkaConnectionError, KafkaTimeoutError, SaslAuthenticationFailedError

from esbridge.config import KafkaConfig
from esbridge.ingest.kafka.confluent import FAILURES, broker_up
from esbridge.ingest.kafka.errors import REPORT_AFTER, ConnectionWatch, KafkaUnavailableError
from esbridge.ingest.kafka.kafka_python import (
    LAG_TIMEOUT_MS,
    ClientErrors,
    KafkaSource,
    failure_kind,
)
from esbridge.ingest.kafka.ratelimit import RateLimiter, RepeatFilter
from esbridge.ingest.kafka.settings import (
    describe_login,
    kafka_python_settings,
    librdkafka_settings,
)
from tests.helpers.seams import FakeClock

SASL = KafkaConfig(
    bootstrap=("k1:9092", "k2:9092"),
    security_protocol="SASL_PLAINTEXT",
    sasl_mechanism="SCRAM-SHA-512",
    sasl_username="esbridge",
    sasl_password="hunter2-secret",  # type: ignore[arg-type]
    connect_timeout=60.0,
)


# --- the rate limiter -------------------------------------------------------------------------


def test_the_first_of_a_kind_passes_then_one_per_interval_with_the_count_held_back() -> None:
    clock = FakeClock()
    limiter = RateLimiter(30.0, clock)

    first = limiter.admit("refused")
    held = []
    for _ in range(89):  # three a second for 29.7 s
        clock.advance(1 / 3)
        held.append(limiter.admit("refused"))
    clock.advance(0.5)
    later = limiter.admit("refused")

    assert first is not None and first.held == 0
    assert held == [None] * 89
    assert later is not None and later.held == 89 and later.seconds == pytest.approx(89 / 3 + 0.5)
    assert limiter.admit("refused") is None  # the next interval starts over


def test_kinds_are_limited_each_on_their_own() -> None:
    clock = FakeClock()
    limiter = RateLimiter(30.0, clock)

    assert limiter.admit("a") is not None
    assert limiter.admit("b") is not None
    assert limiter.admit("a") is None


def record(name: str, message: str, *args: object, level: int = logging.ERROR) -> logging.LogRecord:
    return logging.LogRecord(name, level, __file__, 1, message, args, None)


def test_the_filter_thins_out_client_lines_that_differ_only_in_numbers() -> None:
    clock = FakeClock()
    repeat = RepeatFilter(30.0, clock=clock)
    text = (
        "127.0.0.1:%d/bootstrap: Connect failed: Connection refused (after %dms in state CONNECT)"
    )

    passed = [repeat.filter(record("esbridge.librdkafka", text, 9092, ms)) for ms in range(50)]
    clock.advance(31)
    summary = record("esbridge.librdkafka", text, 9092, 3)
    assert repeat.filter(summary)

    assert passed == [True] + [False] * 49
    assert summary.getMessage().endswith("(49 more like this in the last 31s)")
    assert summary.getMessage().startswith("127.0.0.1:9092/bootstrap: Connect failed")


def test_a_burst_of_different_client_lines_is_cut_to_the_budget_and_counted() -> None:
    """A broker going away: kafka-python logs about ten different complaints at once."""
    clock = FakeClock()
    repeat = RepeatFilter(30.0, clock=clock, burst=3)
    complaints = [f"complaint {name}" for name in "abcdefghijk"]

    passed = [repeat.filter(record("kafka.net.connection", text)) for text in complaints]
    ours = repeat.filter(record("esbridge.source", "no Kafka broker of k1:9092 answered"))
    clock.advance(30)
    later = record("kafka.coordinator", "heartbeat failed")

    assert passed == [True] * 3 + [False] * 8
    assert ours, "esbridge's own line about Kafka is not a client line"
    assert repeat.filter(later)
    assert later.getMessage() == "heartbeat failed (8 other Kafka client lines held back)"


def test_the_filter_leaves_other_loggers_and_info_lines_alone() -> None:
    repeat = RepeatFilter(30.0, clock=FakeClock())

    assert all(repeat.filter(record("esbridge.ingest", "offset commit failed")) for _ in range(5))
    assert all(
        repeat.filter(record("kafka.net.manager", "bootstrap", level=logging.INFO))
        for _ in range(5)
    )
    assert repeat.filter(record("kafka.net.connection", "%s: Connection lost: %s", "c", "x"))
    assert not repeat.filter(record("kafka.net.connection", "%s: Connection lost: %s", "c", "x"))
    assert repeat.filter(record("kafkaesque", "not a client logger"))
    assert repeat.filter(record("kafkaesque", "not a client logger"))


# --- the connection watch ---------------------------------------------------------------------


def test_without_failures_the_watch_never_gives_up() -> None:
    clock = FakeClock()
    watch = ConnectionWatch(SASL, clock)

    clock.advance(3600)
    watch.check()

    assert not watch.failing


def test_a_refused_login_gives_up_after_the_timeout_naming_brokers_and_mechanism(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = FakeClock()
    watch = ConnectionWatch(SASL, clock)
    reason = "Authentication failed due to invalid credentials with SASL mechanism SCRAM-SHA-512"

    watch.failed("login", reason)
    watch.failed("unreachable", "1/1 brokers are down")  # follows a refused login; says less
    clock.advance(59.9)
    watch.check()
    clock.advance(0.1)
    with pytest.raises(KafkaUnavailableError) as caught:
        watch.check()

    message = str(caught.value)
    assert message == (
        "no Kafka broker of k1:9092,k2:9092 accepted the credentials (SASL_PLAINTEXT "
        f"SCRAM-SHA-512 as user esbridge) for 60s: {reason}; "
        "check kafka.sasl_username and kafka.sasl_password"
    )
    assert "hunter2" not in message + caplog.text
    assert caught.value.exit_code == 1


def test_the_failure_is_logged_once_after_a_grace_and_again_only_after_contact(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = FakeClock()
    watch = ConnectionWatch(SASL, clock)
    caplog.set_level(logging.INFO, logger="esbridge.source")

    watch.failed("unreachable", "Connection refused")
    watch.check()
    assert caplog.records == []  # an idle connection closed by a broker is no alarm
    for _ in range(10):  # 50 s: not yet the timeout
        clock.advance(REPORT_AFTER)
        watch.failed("unreachable", "Connection refused")
        watch.check()
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1
    assert (
        errors[0]
        .getMessage()
        .startswith(
            "no Kafka broker of k1:9092,k2:9092 answered (SASL_PLAINTEXT SCRAM-SHA-512 as user "
            "esbridge): Connection refused; exiting 60s after the first failure unless a broker"
        )
    )


def test_contact_starts_the_timeout_over() -> None:
    clock = FakeClock()
    watch = ConnectionWatch(SASL, clock)

    watch.failed("unreachable", "Connection refused")
    clock.advance(50)
    watch.contact()
    clock.advance(50)
    watch.check()
    watch.failed("unreachable", "Connection refused")
    clock.advance(59)
    watch.check()
    clock.advance(1)

    with pytest.raises(KafkaUnavailableError, match=r"answered .* for 60s: Connection refused"):
        watch.check()


def test_a_client_that_gives_up_by_itself_gets_the_watchs_message() -> None:
    watch = ConnectionWatch(KafkaConfig(bootstrap=("k1:9092",), connect_timeout=5.0))

    error = watch.give_up("KafkaTimeoutError: Unable to bootstrap from ['k1:9092']")

    assert str(error) == (
        "no Kafka broker of k1:9092 answered (PLAINTEXT) for 5s: "
        "KafkaTimeoutError: Unable to bootstrap from ['k1:9092']; "
        "check kafka.bootstrap and that the brokers run"
    )


# --- what each client's errors mean -----------------------------------------------------------


def test_librdkafka_errors_are_classified_by_what_a_person_must_fix() -> None:
    assert FAILURES[KafkaError._AUTHENTICATION] == "login"
    assert FAILURES[KafkaError.SASL_AUTHENTICATION_FAILED] == "login"
    assert FAILURES[KafkaError._SSL] == "tls"
    assert FAILURES[KafkaError._TRANSPORT] == "unreachable"
    assert FAILURES[KafkaError._ALL_BROKERS_DOWN] == "unreachable"
    assert KafkaError._PARTITION_EOF not in FAILURES


def test_a_broker_up_in_librdkafkas_statistics_is_contact() -> None:
    def stats(*states: str) -> str:
        brokers = {f"127.0.0.1:9092/{i}": {"state": s} for i, s in enumerate(states)}
        return json.dumps({"name": "esbridge#consumer-1", "brokers": brokers})

    assert broker_up(stats("DOWN", "UP"))
    assert not broker_up(stats("DOWN", "AUTH_HANDSHAKE", "CONNECT"))
    assert not broker_up(json.dumps({"name": "x"}))


def test_kafka_python_failures_are_read_off_its_log_records() -> None:
    watch = ConnectionWatch(SASL, FakeClock())
    handler = ClientErrors(watch)
    refused = SaslAuthenticationFailedError("Authentication failed: invalid credentials")

    handler.emit(record("kafka.net.connection", "%s: Connection lost: %s", "<conn>", refused))

    assert watch.kind == "login" and watch.reason == str(refused)
    assert failure_kind(KafkaConnectionError("111 ECONNREFUSED")) == "unreachable"
    untrusted = "Handshake failed: [SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed"
    assert failure_kind(KafkaConnectionError(untrusted)) == "tls"
    assert failure_kind(KafkaTimeoutError("Unable to bootstrap")) is None  # a consequence


def test_a_broker_closing_the_connection_is_not_called_unreachable() -> None:
    """kafka-python 3.0 may see a refused SCRAM login only as "socket disconnected"."""
    watch = ConnectionWatch(SASL, FakeClock())
    handler = ClientErrors(watch)
    lost = KafkaConnectionError("socket disconnected")
    refused = KafkaConnectionError("111 ECONNREFUSED")

    handler.emit(record("kafka.net.connection", "%s: Connection lost: %s", "<conn>", lost))
    message = str(watch.give_up(""))
    handler.emit(record("kafka.net.connection", "%s: Connection lost: %s", "<conn>", refused))

    assert message == (
        "no Kafka broker of k1:9092,k2:9092 let esbridge in (SASL_PLAINTEXT SCRAM-SHA-512 as "
        "user esbridge; each closed the connection, as brokers do on a wrong password or "
        "protocol) for 60s: KafkaConnectionError: socket disconnected; check "
        "kafka.security_protocol, kafka.sasl_mechanism, kafka.sasl_username and "
        "kafka.sasl_password"
    )
    assert watch.kind == "unreachable"  # then it went away: the latest of equal rank wins


# --- one mapping of kafka: onto each client ---------------------------------------------------


def test_both_clients_get_brokers_credentials_and_the_connect_timeout() -> None:
    python = kafka_python_settings(SASL)
    rdkafka = librdkafka_settings(SASL)

    assert python == {
        "bootstrap_servers": ["k1:9092", "k2:9092"],
        "client_id": "esbridge",
        "security_protocol": "SASL_PLAINTEXT",
        "bootstrap_timeout_ms": 60000,
        "sasl_mechanism": "SCRAM-SHA-512",
        "sasl_plain_username": "esbridge",
        "sasl_plain_password": "hunter2-secret",
    }
    assert rdkafka == {
        "bootstrap.servers": "k1:9092,k2:9092",
        "client.id": "esbridge",
        "security.protocol": "SASL_PLAINTEXT",
        "sasl.mechanism": "SCRAM-SHA-512",
        "sasl.username": "esbridge",
        "sasl.password": "hunter2-secret",
    }
    assert describe_login(SASL) == "SASL_PLAINTEXT SCRAM-SHA-512 as user esbridge"


class TimedConsumer:
    """kafka-python's consumer as `KafkaSource.lag` calls it, recording each call's timeout."""

    def __init__(self) -> None:
        self.timeouts: list[int | None] = []

    def assignment(self) -> set[TopicPartition]:
        return {TopicPartition("t", 0)}

    def end_offsets(self, parts: list[TopicPartition], timeout_ms: int | None = None) -> Any:
        self.timeouts.append(timeout_ms)
        return dict.fromkeys(parts, 10)

    def committed(self, part: TopicPartition, timeout_ms: int | None = None) -> None:
        self.timeouts.append(timeout_ms)

    def beginning_offsets(self, parts: list[TopicPartition], timeout_ms: int | None = None) -> Any:
        self.timeouts.append(timeout_ms)
        return dict.fromkeys(parts, 4)

    config: ClassVar[dict[str, str]] = {"auto_offset_reset": "earliest"}


def test_kafka_pythons_lag_lookup_never_waits_its_30_second_request_timeout() -> None:
    """A lookup that blocked for kafka-python's request timeout held the loop, and with it the
    outage watch, while a broker was down (the outage then went unreported)."""
    source = object.__new__(KafkaSource)
    consumer = TimedConsumer()
    source.consumer = cast(Any, consumer)
    source.stored, source.stored_for = {}, frozenset()

    assert source.lag({}) == {("t", 0): 6}
    assert consumer.timeouts == [LAG_TIMEOUT_MS] * 3
    assert LAG_TIMEOUT_MS <= 5_000
