"""Fixtures of the integration tests (the servers themselves come from tests/conftest.py)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

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
