"""Fixtures of the integration tests (the servers themselves come from tests/conftest.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from elasticsearch import Elasticsearch

from tests.integration.sites import Site, make_site, remove_site


@pytest.fixture
def site(tmp_path: Path, es: Elasticsearch, kafka_bootstrap: str, es_url: str) -> Iterator[Site]:
    made = make_site(tmp_path, es, kafka_bootstrap, es_url)
    yield made
    remove_site(made)
