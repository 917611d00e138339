"""The engines of the compatibility suite, one node at a time, and sites on them.

`ESBRIDGE_COMPAT_ENGINES` names the engines, comma-separated (`NAME` or `NAME:VERSION`, as
`esbridge stack up --engine` takes them); by default the three the main suite does not run on.
Each is started by `esbridge.stack.nodes.start_node` in a module-scoped parametrized fixture,
so pytest runs every test against one engine, stops it, then starts the next: never two
engine nodes at once. Beside them runs only the session's Kafka broker (the shared stack's,
or one of the session's own), not the session's Elasticsearch, which this suite does not use.
The wall time of each engine, from its start to its stop, is printed at the end of the run.

A site here is set up exactly as an operator does it, by the `esbridge setup` command, so the
templates and (where the engine has them) lifecycle policies are what that engine gets.
"""

from __future__ import annotations

import json
import os
import shutil
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner

from esbridge.cli import main
from esbridge.cluster.search import SearchCluster
from esbridge.config import load_config
from esbridge.stack import process
from esbridge.stack.kafka import KafkaNode
from esbridge.stack.nodes import start_node, stop_node
from tests.helpers.sites import Site, remove_site, write_config
from tests.helpers.watching import Mailbox, smtp_server

DEFAULT_ENGINES = "elasticsearch-8,opensearch-2,opensearch-3"
ENGINES = [
    name.strip()
    for name in os.environ.get("ESBRIDGE_COMPAT_ENGINES", DEFAULT_ENGINES).split(",")
    if name.strip()
]
WALL_TIMES: dict[str, tuple[float, float]] = {}
"""Engine -> (seconds from its start to its stop, of which starting the node)."""


@dataclass(frozen=True)
class Engine:
    name: str
    url: str


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not WALL_TIMES:
        return
    terminalreporter.section("compat: wall time per engine")
    for name, (total, start) in WALL_TIMES.items():
        terminalreporter.line(f"{name:<20} {total:6.1f} s  (node start {start:.1f} s)")


@pytest.fixture(scope="session")
def stack_endpoints(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """Only Kafka, for tests/conftest.py's `kafka_bootstrap`: the shared stack's broker when
    ESBRIDGE_KAFKA_BOOTSTRAP names one, else a broker of the session's own: this suite starts
    its engines itself and needs no session Elasticsearch."""
    bootstrap = os.environ.get("ESBRIDGE_KAFKA_BOOTSTRAP")
    if bootstrap:
        yield {"kafka_bootstrap": bootstrap}
        return
    node = KafkaNode(tmp_path_factory.mktemp("kafka"), process.free_port(), process.free_port())
    pid = node.start()
    try:
        node.wait_healthy(pid, time.monotonic() + 120)
        yield {"kafka_bootstrap": node.bootstrap}
    finally:
        process.stop_group(pid)


@pytest.fixture(scope="module", params=ENGINES)
def engine(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Engine]:
    name: str = request.param
    began = time.monotonic()
    directory = tmp_path_factory.mktemp(name.replace(":", "-"))
    node = start_node(name, directory)
    started = time.monotonic() - began
    try:
        yield Engine(name, node.url)
    finally:
        stop_node(node)
        # under root the node's folders may live under /var/lib/esbridge: leave nothing there
        shutil.rmtree(node.root if node.root.parent == directory else node.root.parent)
        WALL_TIMES[name] = (time.monotonic() - began, started)


@pytest.fixture(scope="module")
def cluster(engine: Engine) -> Iterator[SearchCluster]:
    connected = SearchCluster.connect([engine.url], request_timeout=60)
    yield connected
    connected.close()


def setup_site(config_path: Path) -> list[dict[str, str]]:
    """`esbridge setup -c CONFIG --json`, in this process; the changes it reports."""
    result = CliRunner().invoke(main, ["setup", "-c", str(config_path), "--json"])
    assert result.exit_code == 0, result.output
    changes: list[dict[str, str]] = json.loads(result.stdout)
    return changes


@pytest.fixture
def sites(tmp_path: Path, engine: Engine, kafka_bootstrap: str) -> Iterator[Callable[..., Site]]:
    """`sites(extra="", setup=True)`: a site on the engine (its own topics, indices,
    templates, group), set up by `esbridge setup` unless `setup=False`; removed after."""
    made: list[Site] = []

    def make(extra: str = "", *, setup: bool = True) -> Site:
        name = f"t{uuid.uuid4().hex[:10]}"
        directory = tmp_path / name
        directory.mkdir()
        path = write_config(directory, name, kafka_bootstrap, engine.url, extra.replace(
            "{site}", name
        ))  # fmt: skip
        config = load_config(path, environ=os.environ)
        site = Site(name, path, config, SearchCluster.connect([engine.url]), kafka_bootstrap)
        made.append(site)
        if setup:
            setup_site(path)
        return site

    yield make
    for site in made:
        remove_site(site)


@pytest.fixture
def mailbox() -> Iterator[tuple[Mailbox, int]]:
    with smtp_server() as running:
        yield running
