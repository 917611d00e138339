"""A single-node Apache Kafka broker in KRaft mode (broker and controller in one JVM).

On request it also listens with SASL_PLAINTEXT and SCRAM-SHA-512 on a second port, and with
SSL on another (`TlsListener`, used by the tests; `stack up` has no option for it), so the
clients' authentication and TLS (and their failures) can be exercised against the real broker.
"""

from __future__ import annotations

import base64
import subprocess
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from esbridge.errors import EsbridgeError
from esbridge.stack import process
from esbridge.stack.artifacts import KAFKA_VERSION, kafka_libs
from esbridge.stack.jdk import find_jdk

LOG4J2 = """\
Configuration:
  Appenders:
    Console:
      name: STDOUT
      PatternLayout:
        pattern: "[%d] %p %m (%c)%n"
  Loggers:
    Root:
      level: INFO
      AppenderRef:
        - ref: STDOUT
    Logger:
      - name: kafka.request.logger
        level: WARN
"""


class ServerStartError(EsbridgeError):
    """A server did not become healthy; the message carries the tail of its log."""


SASL_MECHANISM = "SCRAM-SHA-512"
SASL_USERNAME = "esbridge"


@dataclass(frozen=True)
class SaslListener:
    """The optional SASL_PLAINTEXT listener and the one SCRAM user it accepts."""

    port: int
    password: str
    username: str = SASL_USERNAME
    mechanism: str = SASL_MECHANISM

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"


@dataclass(frozen=True)
class TlsListener:
    """The optional SSL listener: the broker's certificate and its private key (PEM, the key
    unencrypted PKCS#8 as `openssl req -nodes` writes it), read by Kafka as a PEM keystore.
    Clients verify the certificate against the CA that signed it (`kafka.ssl_cafile`)."""

    port: int
    certificate: Path
    key: Path

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"


def new_cluster_id() -> str:
    """A random KRaft cluster id: 22 characters of URL-safe base64, which may begin with '-'."""
    return base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")


def format_command(java: Path, classpath: str, cluster_id: str, config: str) -> list[str]:
    """`kafka-storage format`; `--cluster-id=<id>` in one argument, because an id that begins
    with '-' given as a separate argument is read as an option (about 1 start in 65)."""
    return [
        str(java), "-Xmx256m", "-cp", classpath, "kafka.tools.StorageTool",
        "format", f"--cluster-id={cluster_id}", f"--config={config}",
    ]  # fmt: skip


@dataclass(frozen=True)
class KafkaNode:
    root: Path
    port: int
    controller_port: int
    sasl: SaslListener | None = None
    tls: TlsListener | None = None

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def keystore(self) -> Path:
        return self.root / "tls-keystore.pem"

    @property
    def log_file(self) -> Path:
        return self.root / "kafka.log"

    @property
    def pid_file(self) -> Path:
        return self.root / "kafka.pid"

    @property
    def marker(self) -> str:
        return str(self.root / "server.properties")

    def pid(self) -> int | None:
        return process.read_pid(self.pid_file, self.marker)

    def server_properties(self) -> str:
        listeners = [f"PLAINTEXT://127.0.0.1:{self.port}"]
        protocols = ["CONTROLLER:PLAINTEXT", "PLAINTEXT:PLAINTEXT"]
        sasl: list[str] = []
        if self.sasl is not None:
            listeners.append(f"SASL_PLAINTEXT://127.0.0.1:{self.sasl.port}")
            protocols.append("SASL_PLAINTEXT:SASL_PLAINTEXT")
            prefix = f"listener.name.sasl_plaintext.{self.sasl.mechanism.lower()}"
            sasl = [
                f"sasl.enabled.mechanisms={self.sasl.mechanism}",
                f"{prefix}.sasl.jaas.config="
                "org.apache.kafka.common.security.scram.ScramLoginModule required;",
            ]
        tls: list[str] = []
        if self.tls is not None:
            listeners.append(f"SSL://127.0.0.1:{self.tls.port}")
            protocols.append("SSL:SSL")
            tls = [
                "listener.name.ssl.ssl.keystore.type=PEM",
                f"listener.name.ssl.ssl.keystore.location={self.keystore}",
            ]
        return "\n".join(
            [
                "process.roles=broker,controller",
                "node.id=1",
                f"controller.quorum.voters=1@127.0.0.1:{self.controller_port}",
                f"listeners={','.join(listeners)},CONTROLLER://127.0.0.1:{self.controller_port}",
                f"advertised.listeners={','.join(listeners)}",
                "controller.listener.names=CONTROLLER",
                f"listener.security.protocol.map={','.join(protocols)}",
                *sasl,
                *tls,
                f"log.dirs={self.root / 'data'}",
                "num.partitions=1",
                "offsets.topic.replication.factor=1",
                "offsets.topic.num.partitions=4",
                "transaction.state.log.replication.factor=1",
                "transaction.state.log.min.isr=1",
                "share.coordinator.state.topic.replication.factor=1",
                "share.coordinator.state.topic.min.isr=1",
                "group.initial.rebalance.delay.ms=0",
                "message.max.bytes=10485760",
                "auto.create.topics.enable=true",
                "",
            ]
        )

    def start(self) -> int:
        """Writes the config, formats storage on first use, starts the JVM; returns its pid."""
        jdk = find_jdk(17, f"Apache Kafka {KAFKA_VERSION}")
        libs = kafka_libs()
        self.root.mkdir(parents=True, exist_ok=True)
        (self.root / "server.properties").write_text(self.server_properties())
        if self.tls is not None:  # Kafka's PEM keystore: the key, then the certificate chain
            self.keystore.write_text(self.tls.key.read_text() + self.tls.certificate.read_text())
        (self.root / "log4j2.yaml").write_text(LOG4J2)
        classpath = f"{libs}/*"
        if not (self.root / "data" / "meta.properties").exists():
            command = format_command(jdk.java, classpath, new_cluster_id(), self.marker)
            result = subprocess.run(command, capture_output=True, text=True, check=False)
            if result.returncode != 0:
                raise ServerStartError(
                    f"Kafka storage format failed:\n{result.stdout}{result.stderr}"
                )
        command = [
            str(jdk.java), "-Xms256m", "-Xmx768m", "-XX:+UseG1GC", "-Djava.awt.headless=true",
            f"-Dlog4j2.configurationFile={self.root / 'log4j2.yaml'}",
            f"-Dkafka.logs.dir={self.root}", "-cp", classpath, "kafka.Kafka", self.marker,
        ]  # fmt: skip
        return process.start_detached(command, log_file=self.log_file, pid_file=self.pid_file)

    def healthy(self) -> bool:
        """The broker answers a metadata request (not merely an open port), and so does the SASL
        listener, if any, with its user's credentials."""
        if not answers(self.port, {}):
            return False
        if self.tls is not None:
            settings = {"security_protocol": "SSL", "ssl_cafile": str(self.tls.certificate)}
            if not answers(self.tls.port, settings):
                return False
        return self.sasl is None or answers(self.sasl.port, sasl_client_settings(self.sasl))

    def add_sasl_user(self) -> None:
        """Creates (or resets) the SASL listener's SCRAM user through the PLAINTEXT listener.

        Through the admin API rather than `kafka-storage format --add-scram`, so a stack whose
        storage was formatted without SASL gets the user too.
        """
        if self.sasl is None:
            return
        from kafka import KafkaAdminClient  # noqa: PLC0415 - slow import, only for SASL stacks
        from kafka.admin import UserScramCredentialUpsertion  # noqa: PLC0415

        admin = KafkaAdminClient(bootstrap_servers=self.bootstrap, client_id="esbridge-stack")
        try:
            upsert = UserScramCredentialUpsertion(
                self.sasl.username, self.sasl.mechanism, self.sasl.password
            )
            errors = admin.alter_user_scram_credentials([upsert])
        finally:
            admin.close()
        if any(errors.values()):
            raise ServerStartError(f"creating Kafka's SASL user failed: {errors}")

    def wait_healthy(self, pid: int, deadline: float) -> None:
        user_added = False
        while time.monotonic() < deadline:
            if not process.alive(pid):
                raise ServerStartError(
                    f"Kafka exited during start-up; last lines of {self.log_file}:\n"
                    + process.tail(self.log_file)
                )
            if self.sasl is not None and not user_added and answers(self.port, {}):
                self.add_sasl_user()
                user_added = True
            if self.healthy():
                return
            time.sleep(0.5)
        raise ServerStartError(
            f"Kafka did not answer metadata requests in time; last lines of {self.log_file}:\n"
            + process.tail(self.log_file)
        )


def sasl_client_settings(sasl: SaslListener) -> dict[str, str]:
    """kafka-python settings for the SASL listener."""
    return {
        "security_protocol": "SASL_PLAINTEXT",
        "sasl_mechanism": sasl.mechanism,
        "sasl_plain_username": sasl.username,
        "sasl_plain_password": sasl.password,
    }


def answers(port: int, settings: dict[str, str]) -> bool:
    """The listener on `port` answers a metadata request (kafka-python `settings` for auth)."""
    if not process.port_open(port):
        return False
    from kafka import KafkaAdminClient  # noqa: PLC0415 - slow import, only when probing

    try:
        admin = KafkaAdminClient(
            bootstrap_servers=f"127.0.0.1:{port}",
            request_timeout_ms=5000,
            client_id="esbridge-stack",
            **settings,
        )
    except Exception:  # any client failure means "not ready yet"
        return False
    try:
        return bool(admin.describe_cluster().get("brokers"))
    except Exception:
        return False
    finally:
        admin.close()
