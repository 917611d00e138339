"""`esbridge ingest` refuses to start where `esbridge setup` has not run, and says so."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from tests.helpers.sites import Site, make_site, remove_site

pytestmark = pytest.mark.integration


@pytest.fixture
def bare(tmp_path: Path, kafka_bootstrap: str, es_url: str) -> Iterator[Site]:
    """A site whose config was never given to `esbridge setup`."""
    made = make_site(tmp_path, kafka_bootstrap, es_url, setup=False)
    yield made
    remove_site(made)


def run_ingest(site: Site) -> tuple[int, str]:
    process = site.ingest_process("--idle-exit", "3")
    out, _ = process.communicate(timeout=120)
    return process.returncode, out.decode()


def test_ingest_without_setup_exits_1_naming_the_missing_aliases_and_reads_nothing(
    bare: Site,
) -> None:
    bare.produce("billing", [orjson.dumps({"msgType": "transfer", "date": "x"})])

    code, out = run_ingest(bare)

    assert code == 1, out
    assert f"run `esbridge setup -c {bare.config_path}` first" in out
    assert f"no write alias {bare.index('billing')}" in out
    assert f"no index template {bare.name}-billing" in out
    assert "Traceback" not in out
    assert bare.committed("billing") is None


def test_a_plain_index_in_place_of_the_write_alias_is_named_as_such(bare: Site) -> None:
    bare.cluster.create_index(bare.index("logs"), {})

    code, out = run_ingest(bare)

    assert code == 1, out
    assert f"{bare.index('logs')} is a plain index, not esbridge's write alias" in out
