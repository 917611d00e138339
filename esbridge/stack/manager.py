"""`esbridge stack up | down | status`: both servers, their ports and their state file."""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from esbridge.stack import process
from esbridge.stack.artifacts import ES_VERSION, KAFKA_VERSION
from esbridge.stack.elasticsearch import EsNode, traversable_by_others
from esbridge.stack.kafka import KafkaNode, SaslListener, ServerStartError
from esbridge.stack.paths import default_stack_dir

DEFAULT_KAFKA_PORT = 9092
DEFAULT_ES_PORT = 9200
START_TIMEOUT = 180.0


@dataclass(frozen=True)
class StackOptions:
    directory: Path | None = None
    kafka_port: int | None = None
    es_port: int | None = None
    secure: bool = False
    kafka_sasl: bool = False
    """A second Kafka listener, SASL_PLAINTEXT with SCRAM-SHA-512, beside the PLAINTEXT one."""
    restart: bool = False
    """Restart servers that are running; without it `up` leaves a running stack alone."""


@dataclass(frozen=True)
class KafkaInfo:
    bootstrap: str
    version: str
    sasl_bootstrap: str | None = None
    sasl_mechanism: str | None = None
    sasl_username: str | None = None
    sasl_password: str | None = None


@dataclass(frozen=True)
class ElasticsearchInfo:
    url: str
    version: str
    username: str | None = None
    password: str | None = None
    ca: str | None = None


@dataclass(frozen=True)
class StackInfo:
    kafka: KafkaInfo
    elasticsearch: ElasticsearchInfo
    already_up: bool = False
    """Both servers were running before this `up`, which left them alone."""

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        for server in ("kafka", "elasticsearch"):
            data[server] = {k: v for k, v in data[server].items() if v is not None}
        return data


@dataclass
class State:
    """What `up` chose, so that `down`, `status` and the next `up` find the same servers."""

    kafka_port: int = 0
    controller_port: int = 0
    es_port: int = 0
    transport_port: int = 0
    es_root: str = ""
    password: str | None = None
    kafka_sasl_port: int = 0
    kafka_sasl_password: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


class Stack:
    def __init__(self, options: StackOptions) -> None:
        self.options = options
        self.directory = (options.directory or default_stack_dir()).resolve()
        self.state_file = self.directory / "stack.json"

    def load_state(self) -> State | None:
        try:
            return State(**json.loads(self.state_file.read_text()))
        except (OSError, ValueError, TypeError):
            return None

    def save_state(self, state: State) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        self.state_file.write_text(json.dumps(asdict(state), indent=2) + "\n")
        self.state_file.chmod(0o600)

    def es_root(self) -> Path:
        """Under root, Elasticsearch's folders must be reachable by its unprivileged user."""
        preferred = self.directory / "elasticsearch"
        if os.geteuid() != 0 or traversable_by_others(self.directory):
            return preferred
        digest = hashlib.sha256(str(self.directory).encode()).hexdigest()[:12]
        return Path("/var/lib/esbridge") / f"stack-{digest}" / "elasticsearch"

    def plan(self) -> State:
        previous = self.load_state() or State()
        secure = self.options.secure or bool(previous.password)
        sasl = self.options.kafka_sasl or bool(previous.kafka_sasl_password)
        return State(
            kafka_port=choose_port(
                self.options.kafka_port, previous.kafka_port, DEFAULT_KAFKA_PORT
            ),
            controller_port=previous.controller_port or process.free_port(),
            es_port=choose_port(self.options.es_port, previous.es_port, DEFAULT_ES_PORT),
            transport_port=previous.transport_port or process.free_port(),
            es_root=str(self.es_root()),
            password=(previous.password or secrets.token_urlsafe(18)) if secure else None,
            kafka_sasl_port=(previous.kafka_sasl_port or process.free_port()) if sasl else 0,
            kafka_sasl_password=(
                (previous.kafka_sasl_password or secrets.token_urlsafe(18)) if sasl else None
            ),
        )

    def nodes(self, state: State) -> tuple[KafkaNode, EsNode]:
        sasl = None
        if state.kafka_sasl_password is not None:
            sasl = SaslListener(state.kafka_sasl_port, state.kafka_sasl_password)
        kafka = KafkaNode(self.directory / "kafka", state.kafka_port, state.controller_port, sasl)
        es = EsNode(Path(state.es_root), state.es_port, state.transport_port, state.password)
        return kafka, es

    def running(self, state: State) -> tuple[bool, bool]:
        """Whether Kafka and Elasticsearch of `state` are running."""
        kafka, es = self.nodes(state)
        return kafka.pid() is not None, es.pid() is not None

    def up(self) -> StackInfo:
        """Starts what is not running and returns once both servers are healthy.

        A running stack is left as it is, on its ports and with its options (a second `up`
        with `--kafka-port 0` must not move a stack others use), unless `restart` is asked for.
        """
        previous = self.load_state()
        running = self.running(previous) if previous is not None else (False, False)
        if previous is not None and any(running) and not self.options.restart:
            state = previous
        else:
            state = self.plan()
            if any(running):
                self.down()
        kafka, es = self.nodes(state)
        self.save_state(state)
        deadline = time.monotonic() + START_TIMEOUT
        try:
            kafka_pid = kafka.pid() or start_on_free_port(kafka.port, "Kafka", kafka.start)
            es_pid = es.pid() or start_on_free_port(es.port, "Elasticsearch", es.start)
            kafka.wait_healthy(kafka_pid, deadline)
            es.wait_healthy(es_pid, deadline)
        except BaseException:
            self.down()
            raise
        return self.info(state, already_up=all(running) and state is previous)

    def info(self, state: State, *, already_up: bool = False) -> StackInfo:
        kafka, es = self.nodes(state)
        sasl = kafka.sasl
        return StackInfo(
            already_up=already_up,
            kafka=KafkaInfo(
                bootstrap=kafka.bootstrap,
                version=KAFKA_VERSION,
                sasl_bootstrap=None if sasl is None else sasl.bootstrap,
                sasl_mechanism=None if sasl is None else sasl.mechanism,
                sasl_username=None if sasl is None else sasl.username,
                sasl_password=None if sasl is None else sasl.password,
            ),
            elasticsearch=ElasticsearchInfo(
                url=es.url,
                version=es.version() or ES_VERSION,
                username="elastic" if es.secure else None,
                password=es.password,
                ca=str(es.ca) if es.secure else None,
            ),
        )

    def down(self) -> list[str]:
        """Stops both servers by their pid files; returns what was stopped."""
        state = self.load_state()
        if state is None:
            return []
        stopped = []
        kafka, es = self.nodes(state)
        for name, pid, pid_file in (
            ("kafka", kafka.pid(), kafka.pid_file),
            ("elasticsearch", es.pid(), es.pid_file),
        ):
            if pid:
                process.stop_group(pid)
                stopped.append(f"{name} (pid {pid})")
            pid_file.unlink(missing_ok=True)
        return stopped

    def status(self) -> dict[str, Any]:
        state = self.load_state()
        if state is None:
            return {"directory": str(self.directory), "kafka": None, "elasticsearch": None}
        kafka, es = self.nodes(state)
        es_pid = es.pid()
        return {
            "directory": str(self.directory),
            "kafka": {
                "version": KAFKA_VERSION,
                "bootstrap": kafka.bootstrap,
                "sasl_bootstrap": None if kafka.sasl is None else kafka.sasl.bootstrap,
                "pid": kafka.pid(),
                "healthy": bool(kafka.pid()) and kafka.healthy(),
            },
            "elasticsearch": {
                "version": (es.version() if es_pid else None) or ES_VERSION,
                "url": es.url,
                "pid": es_pid,
                "health": es.health() if es_pid else None,
                "secure": es.secure,
            },
        }


def choose_port(requested: int | None, previous: int, default: int) -> int:
    """`None` keeps the previous port (or the default); 0 picks a free one."""
    if requested is None:
        return previous or default
    return requested or process.free_port()


def start_on_free_port(port: int, name: str, start: Callable[[], int]) -> int:
    if process.port_open(port):
        raise ServerStartError(
            f"port {port} for {name} is already in use by another process; "
            "stop it or choose another port (0 picks a free one)"
        )
    return start()
