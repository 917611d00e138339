"""Fixtures of the integration tests (the servers themselves come from tests/conftest.py)."""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from esbridge.stack import process
from esbridge.stack.manager import Stack, StackOptions
from tests.helpers.secure import PASSWORD, SmallRequestsNode
from tests.helpers.sites import Site, make_site, remove_site
from tests.helpers.watching import Mailbox, smtp_server, watch_section


@pytest.fixture
def site(tmp_path: Path, kafka_bootstrap: str, es_url: str) -> Iterator[Site]:
    made = make_site(tmp_path, kafka_bootstrap, es_url)
    yield made
    remove_site(made)


@pytest.fixture
def mailbox() -> Iterator[tuple[Mailbox, int]]:
    with smtp_server() as running:
        yield running


@pytest.fixture
def watched(
    tmp_path: Path,
    kafka_bootstrap: str,
    es_url: str,
    mailbox: tuple[Mailbox, int],
) -> Iterator[Site]:
    made = make_site(tmp_path, kafka_bootstrap, es_url, watch_section(mailbox[1]))
    yield made
    remove_site(made)


@pytest.fixture
def sites(tmp_path: Path, kafka_bootstrap: str, es_url: str) -> Iterator[Callable[[str], Site]]:
    """Sites with the config section given, each removed after the test."""
    made: list[Site] = []

    def make(section: str) -> Site:
        site = make_site(tmp_path, kafka_bootstrap, es_url, section)
        made.append(site)
        return site

    yield make
    for site in made:
        remove_site(site)


@pytest.fixture(scope="session")
def secure_es(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SmallRequestsNode]:
    """One secured node for the session: the refusal and error tests share it."""
    directory = tmp_path_factory.mktemp("secure-es")
    root = Stack(StackOptions(directory=directory, secure=True)).es_root()
    node = SmallRequestsNode(root, process.free_port(), process.free_port(), PASSWORD)
    pid = node.start()
    try:
        node.wait_healthy(pid, time.monotonic() + 240)
        yield node
    finally:
        running = node.pid()
        if running:
            process.stop_group(running)
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def secure_site(
    tmp_path: Path, secure_es: SmallRequestsNode, kafka_bootstrap: str
) -> Iterator[Callable[..., Site]]:
    """Sites on the secured node, installed with the right password; removed after."""
    made: list[Site] = []
    admin = {"username": "elastic", "password": PASSWORD, "ca_certs": str(secure_es.ca)}

    def make(password: str = PASSWORD, **sections: str) -> Site:
        credentials = f'username: elastic\npassword: "{password}"\nca_certs: {secure_es.ca}\n'
        directory = tmp_path / f"site{len(made)}"
        directory.mkdir()
        site = make_site(
            directory,
            kafka_bootstrap,
            secure_es.url,
            sections={"elasticsearch": credentials, **sections},
            connect=admin,
        )
        made.append(site)
        return site

    yield make
    for site in made:
        remove_site(site)
