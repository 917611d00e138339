"""A single-node Apache Kafka broker in KRaft mode (broker and controller in one JVM)."""

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


@dataclass(frozen=True)
class KafkaNode:
    root: Path
    port: int
    controller_port: int

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

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
        return "\n".join(
            [
                "process.roles=broker,controller",
                "node.id=1",
                f"controller.quorum.voters=1@127.0.0.1:{self.controller_port}",
                f"listeners=PLAINTEXT://127.0.0.1:{self.port},"
                f"CONTROLLER://127.0.0.1:{self.controller_port}",
                f"advertised.listeners=PLAINTEXT://127.0.0.1:{self.port}",
                "controller.listener.names=CONTROLLER",
                "listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
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
        (self.root / "log4j2.yaml").write_text(LOG4J2)
        classpath = f"{libs}/*"
        if not (self.root / "data" / "meta.properties").exists():
            cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
            format_command = [
                str(jdk.java), "-Xmx256m", "-cp", classpath, "kafka.tools.StorageTool",
                "format", "-t", cluster_id, "-c", self.marker,
            ]  # fmt: skip
            result = subprocess.run(format_command, capture_output=True, text=True, check=False)
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
        """The broker answers a metadata request (not merely an open port)."""
        if not process.port_open(self.port):
            return False
        from kafka import KafkaAdminClient  # noqa: PLC0415 - slow import, only when probing

        try:
            admin = KafkaAdminClient(
                bootstrap_servers=self.bootstrap,
                request_timeout_ms=5000,
                client_id="esbridge-stack",
            )
        except Exception:  # any client failure means "not ready yet"
            return False
        try:
            return bool(admin.describe_cluster().get("brokers"))
        except Exception:
            return False
        finally:
            admin.close()

    def wait_healthy(self, pid: int, deadline: float) -> None:
        while time.monotonic() < deadline:
            if not process.alive(pid):
                raise ServerStartError(
                    f"Kafka exited during start-up; last lines of {self.log_file}:\n"
                    + process.tail(self.log_file)
                )
            if self.healthy():
                return
            time.sleep(0.5)
        raise ServerStartError(
            f"Kafka did not answer metadata requests in time; last lines of {self.log_file}:\n"
            + process.tail(self.log_file)
        )
