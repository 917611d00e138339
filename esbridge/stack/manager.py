"""`esbridge stack up | down | status`: both servers, their ports and their state file.

The search node is one of the engines of `engines.lock` (Elasticsearch 9 unless `--engine`
says otherwise); which one runs is remembered in the state file, so that `down` and `status`
find it whatever the next command is given.
"""

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

from esbridge.errors import UsageError
from esbridge.stack import process
from esbridge.stack.artifacts import KAFKA_VERSION
from esbridge.stack.elasticsearch import EsNode, traversable_by_others
from esbridge.stack.engines import (
    DEFAULT_ENGINE,
    Distribution,
    Engine,
    EngineError,
    engines,
    resolve,
)
from esbridge.stack.kafka import KafkaNode, SaslListener, ServerStartError
from esbridge.stack.nodes import make_node
from esbridge.stack.opensearch import no_security
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
    engine: str | None = None
    """`NAME` or `NAME:VERSION` of engines.lock; None keeps the stack's own (or the default)."""


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
    distribution: Distribution
    engine: str
    """The engine's name in engines.lock, e.g. `opensearch-3`."""
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
    engine: str = ""
    """The search engine's `NAME:VERSION`; empty in a state file from before engines, which
    always ran Elasticsearch 9."""
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

    def es_root(self, engine: Engine | None = None) -> Path:
        """The search node's folder, one per engine, so that no engine reads another's data.

        Under root it must be reachable by the node's unprivileged user.
        """
        folder = node_folder(engine or resolve(self.options.engine or DEFAULT_ENGINE))
        if os.geteuid() != 0 or traversable_by_others(self.directory):
            return self.directory / folder
        digest = hashlib.sha256(str(self.directory).encode()).hexdigest()[:12]
        return Path("/var/lib/esbridge") / f"stack-{digest}" / folder

    def engine(self, state: State | None) -> Engine:
        """The engine asked for, else the one `state` ran, else Elasticsearch 9."""
        return resolve(self.options.engine or (state.engine if state else "") or DEFAULT_ENGINE)

    def plan(self) -> State:
        """The state `up` starts from: the options given, and what the last `up` chose for
        what they leave open. The node's folder and `--secure` are remembered per engine: an
        engine switched to starts with the options given."""
        previous = self.load_state() or State()
        engine = self.engine(previous)
        same_engine = (previous.engine.partition(":")[0] or DEFAULT_ENGINE) == engine.name
        kept_password = previous.password if same_engine else None
        secure = self.options.secure or bool(kept_password)
        sasl = self.options.kafka_sasl or bool(previous.kafka_sasl_password)
        es_root = previous.es_root if previous.engine == engine.spec else ""
        return State(
            kafka_port=choose_port(
                self.options.kafka_port, previous.kafka_port, DEFAULT_KAFKA_PORT
            ),
            controller_port=previous.controller_port or process.free_port(),
            es_port=choose_port(self.options.es_port, previous.es_port, DEFAULT_ES_PORT),
            transport_port=previous.transport_port or process.free_port(),
            es_root=es_root or str(self.es_root(engine)),
            password=(kept_password or secrets.token_urlsafe(18)) if secure else None,
            kafka_sasl_port=(previous.kafka_sasl_port or process.free_port()) if sasl else 0,
            kafka_sasl_password=(
                (previous.kafka_sasl_password or secrets.token_urlsafe(18)) if sasl else None
            ),
            engine=engine.spec,
        )

    def nodes(self, state: State) -> tuple[KafkaNode, EsNode]:
        sasl = None
        if state.kafka_sasl_password is not None:
            sasl = SaslListener(state.kafka_sasl_port, state.kafka_sasl_password)
        kafka = KafkaNode(self.directory / "kafka", state.kafka_port, state.controller_port, sasl)
        engine = resolve(state.engine or DEFAULT_ENGINE)
        es = make_node(
            engine, Path(state.es_root), state.es_port, state.transport_port, state.password
        )
        return kafka, es

    def running(self, state: State) -> tuple[bool, bool]:
        """Whether Kafka and the search node of `state` are running."""
        kafka, es = self.nodes(state)
        return kafka.pid() is not None, es.pid() is not None

    def up(self) -> StackInfo:
        """Starts what is not running and returns once both servers are healthy.

        A running stack is left as it is, on its ports and with its options (a second `up`
        with `--kafka-port 0` must not move a stack others use), unless `restart` is asked for;
        asked for another engine, it is left alone too, with an error. Options the engine
        cannot honour (`--secure` without a security module) fail before anything changes.
        """
        previous = self.load_state()
        engine = self.engine(previous)
        if self.options.secure and not engine.security:
            raise EngineError(no_security(engine))
        running = self.running(previous) if previous is not None else (False, False)
        if previous is not None and any(running) and not self.options.restart:
            ensure_same_engine(previous, engine, self.directory)
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
            es_pid = es.pid() or start_on_free_port(es.port, es.engine.product, es.start)
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
                version=es.version() or es.engine.version,
                distribution=es.engine.distribution,
                engine=es.engine.name,
                username="elastic" if es.secure else None,
                password=es.password,
                ca=str(es.ca) if es.secure else None,
            ),
        )

    def down(self) -> list[str]:
        """Stops both servers, whatever the engine, by their pid files; returns what was
        stopped."""
        state = self.load_state()
        if state is None:
            return []
        stopped = []
        kafka, es = self.nodes(state)
        for name, pid, pid_file in (
            ("kafka", kafka.pid(), kafka.pid_file),
            (es.engine.distribution, es.pid(), es.pid_file),
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
                "engine": es.engine.name,
                "distribution": es.engine.distribution,
                "version": (es.version() if es_pid else None) or es.engine.version,
                "url": es.url,
                "pid": es_pid,
                "health": es.health() if es_pid else None,
                "secure": es.secure,
            },
        }


def node_folder(engine: Engine) -> str:
    """`elasticsearch` for Elasticsearch 9 (as before engines), else the engine's name; a
    version other than the pinned one gets a folder of its own, as no node can read the data
    of a newer version."""
    name = "elasticsearch" if engine.name == DEFAULT_ENGINE else engine.name
    return name if engine.version == engines()[engine.name].version else engine.home_name


def ensure_same_engine(state: State, engine: Engine, directory: Path) -> None:
    """A running stack of another engine is left alone: switching stops what others may use."""
    running = resolve(state.engine or DEFAULT_ENGINE)
    if running.spec != engine.spec:
        raise UsageError(
            f"the stack in {directory} runs {running.label} ({running.name}), not {engine.spec}; "
            "it is left as it is (--restart switches engines)"
        )


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
