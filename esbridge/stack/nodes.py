"""Starting and stopping a search node of any engine (`NAME` or `NAME:VERSION`).

What `esbridge stack up --engine` needs beside Kafka: `make_node` builds the node object of
an engine (it only names folders and ports; nothing starts), `start_node` starts one and
returns once its cluster health is green or yellow, `stop_node` stops it by its pid file.
"""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path

from esbridge.stack import process
from esbridge.stack.elasticsearch import EsNode, traversable_by_others
from esbridge.stack.engines import Engine, EngineError, resolve
from esbridge.stack.kafka import ServerStartError
from esbridge.stack.opensearch import OpenSearchNode, no_security

START_TIMEOUT = 180.0


def make_node(
    engine: Engine | str,
    root: Path,
    port: int,
    transport_port: int,
    password: str | None = None,
) -> EsNode:
    """The node of `engine` in `root`; a password asks for TLS and a user (`--secure`).

    Raises EngineError for an unknown engine or `--secure` on an engine without a security
    module, before anything is unpacked or started.
    """
    spec = resolve(engine) if isinstance(engine, str) else engine
    if password is not None and not spec.security:
        raise EngineError(no_security(spec))
    if spec.distribution == "opensearch":
        return OpenSearchNode(root, port, transport_port, password, spec)
    return EsNode(root, port, transport_port, password, spec)


def node_root(directory: Path, engine: Engine) -> Path:
    """Where the node's folders go: under `directory`, unless the node must run as the
    unprivileged user (under root) and cannot reach it; then under /var/lib/esbridge."""
    preferred = directory / engine.name
    if os.geteuid() != 0 or traversable_by_others(directory):
        return preferred
    digest = hashlib.sha256(str(directory.resolve()).encode()).hexdigest()[:12]
    return Path("/var/lib/esbridge") / f"node-{digest}" / engine.name


def start_node(
    engine: Engine | str,
    directory: Path,
    *,
    port: int = 0,
    transport_port: int = 0,
    password: str | None = None,
    timeout: float = START_TIMEOUT,
) -> EsNode:
    """Starts a node of `engine` (0 ports pick free ones) and waits until it is healthy.

    Data and config stay in the node's folder for the next start. On any failure the node
    is stopped again and ServerStartError carries the last lines of its log.
    """
    spec = resolve(engine) if isinstance(engine, str) else engine
    node = make_node(
        spec,
        node_root(directory, spec),
        port or process.free_port(),
        transport_port or process.free_port(),
        password,
    )
    running = node.pid()
    if running is not None:
        raise ServerStartError(
            f"{spec.label} in {node.root} is already running (pid {running}); stop it first"
        )
    deadline = time.monotonic() + timeout
    pid = node.start()
    try:
        node.wait_healthy(pid, deadline)
    except BaseException:
        stop_node(node)
        raise
    return node


def stop_node(node: EsNode) -> bool:
    """SIGTERM (then SIGKILL) the node's process group; False when it was not running."""
    pid = node.pid()
    if pid is not None:
        process.stop_group(pid)
    node.pid_file.unlink(missing_ok=True)
    return pid is not None
