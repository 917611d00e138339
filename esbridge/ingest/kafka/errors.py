"""When Kafka is out of reach: a wrong password or an unreachable bootstrap must end the run.

Both clients retry for ever on their own; under systemd a bridge that never gets in looks
healthy. `ConnectionWatch` collects the failures a client reports and the signs that a broker
answered, says once, in one line, what is wrong, and makes the source raise
`KafkaUnavailableError` when no broker answered or accepted the credentials for
`kafka.connect_timeout`.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Literal

from esbridge.config import KafkaConfig
from esbridge.errors import EsbridgeError
from esbridge.ingest.kafka.settings import describe_login

log = logging.getLogger("esbridge.source")

FailureKind = Literal["login", "tls", "closed", "unreachable"]
"""Refused credentials; no TLS handshake; a broker that answered, then closed the connection
(kafka-python may see a refused login only so); no broker answering at all."""
RANK: dict[FailureKind, int] = {"unreachable": 0, "closed": 0, "tls": 1, "login": 2}
"""The most telling failure of a stretch is the one reported: a refused login is usually
followed by "all brokers are down", which must not hide it. Of equal rank the latest wins: a
broker that closed the connection and is now refusing connections has gone away."""

REPORT_AFTER = 5.0
"""Seconds of failure without contact before the one-line error is logged: a broker closing an
idle connection, or one broker of several restarting, is not worth an alarm."""


CHECK: dict[FailureKind, str] = {
    "unreachable": "check kafka.bootstrap and that the brokers run",
    "login": "check kafka.sasl_username and kafka.sasl_password",
    "tls": "check kafka.ssl_cafile (the CA that signed the brokers' certificates)",
    "closed": "check kafka.security_protocol, kafka.sasl_mechanism, kafka.sasl_username and "
    "kafka.sasl_password",
}
"""What a person should look at first, by failure: the last words of the one-line error."""


def bootstrap_check(security_protocol: str) -> str:
    """What to check when a client could not even bootstrap: kafka-python says only "Unable to
    bootstrap" both for a closed port and for a refused login."""
    keys = ["kafka.bootstrap"]
    if security_protocol.startswith("SASL_"):
        keys.append("kafka.sasl_username/sasl_password")
    if security_protocol.endswith("SSL"):
        keys.append("kafka.ssl_cafile")
    return f"check {', '.join(keys)} and that the brokers run"


class KafkaUnavailableError(EsbridgeError):
    """No broker answered, or none accepted the credentials, for `kafka.connect_timeout`."""


class ConnectionWatch:
    """Failures since the last contact with a broker, and the deadline they run against.

    `failed` may be called from a client's own thread; `check` runs on the polling thread.
    """

    def __init__(self, config: KafkaConfig, clock: Callable[[], float] = time.monotonic) -> None:
        self.timeout = config.connect_timeout
        self.brokers = ",".join(config.bootstrap)
        self.login = describe_login(config)
        self.clock = clock
        self.lock = threading.Lock()
        self.failing_since: float | None = None
        self.kind: FailureKind | None = None
        self.reason = ""
        self.logged: set[FailureKind] = set()

    @property
    def failing(self) -> bool:
        return self.failing_since is not None

    def failing_for(self) -> float:
        """Seconds since the first failure after the last contact (0 when not failing)."""
        since = self.failing_since
        return 0.0 if since is None else self.clock() - since

    def failed(self, kind: FailureKind, reason: str) -> None:
        """A client could not connect or log in (from any thread)."""
        with self.lock:
            if self.failing_since is None:
                self.failing_since = self.clock()
            if self.kind is None or RANK[kind] >= RANK[self.kind]:
                self.kind, self.reason = kind, reason
        self.report()

    def report(self) -> None:
        """Logs the failure once per kind and stretch, after `REPORT_AFTER` without contact."""
        with self.lock:
            kind = self.kind
            if kind is None or kind in self.logged or self.failing_for() < REPORT_AFTER:
                return
            self.logged.add(kind)
            reason = self.reason
        until = "answers" if kind == "unreachable" else "lets esbridge in"
        log.error(
            "%s: %s; exiting %.0fs after the first failure unless a broker %s",
            self.subject(kind), reason, self.timeout, until,
        )  # fmt: skip

    def contact(self) -> None:
        """A broker answered (messages, a commit, a heartbeat, a broker up)."""
        with self.lock:
            reported = bool(self.logged)
            self.failing_since, self.kind = None, None
            self.logged.clear()
        if reported:
            log.warning("a Kafka broker of %s answers again", self.brokers)

    def check(self) -> None:
        """Raises `KafkaUnavailableError` once failing for `timeout` without contact."""
        if not self.failing:
            return
        self.report()
        if self.failing_for() >= self.timeout:
            raise self.error()

    def give_up(self, fallback: str) -> KafkaUnavailableError:
        """The error for a client that gave up by itself; `fallback` when nothing was seen."""
        if self.kind is None:
            self.kind, self.reason = "unreachable", fallback
        return self.error()

    def error(self) -> KafkaUnavailableError:
        kind = self.kind or "unreachable"
        return KafkaUnavailableError(
            f"{self.subject(kind)} for {self.timeout:.0f}s: {self.reason}; {CHECK[kind]}"
        )

    def subject(self, kind: FailureKind | None) -> str:
        if kind == "login":
            return f"no Kafka broker of {self.brokers} accepted the credentials ({self.login})"
        if kind == "tls":
            return f"no TLS handshake with a Kafka broker of {self.brokers} ({self.login})"
        if kind == "closed":
            return (
                f"no Kafka broker of {self.brokers} let esbridge in ({self.login}; each closed "
                "the connection, as brokers do on a wrong password or protocol)"
            )
        return f"no Kafka broker of {self.brokers} answered ({self.login})"
