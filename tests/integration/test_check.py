"""`esbridge check` against the real Kafka and Elasticsearch and a local SMTP server."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from esbridge.stack.process import free_port
from tests.helpers.sites import PARSERS, Site, make_site, remove_site
from tests.helpers.watching import Mailbox, watch_section

pytestmark = pytest.mark.integration


def check(config: Path, *args: str) -> tuple[int, list[str]]:
    result = subprocess.run(
        [sys.executable, "-m", "esbridge", "check", "-c", str(config), *args],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert "Traceback" not in result.stdout + result.stderr
    return result.returncode, result.stdout.splitlines()


def verdict(lines: list[str], subject: str) -> str:
    found = [line for line in lines if line.startswith(f"{subject}: ")]
    assert len(found) == 1, lines
    return found[0]


@pytest.fixture
def bare(tmp_path: Path, kafka_bootstrap: str, es_url: str) -> Iterator[Site]:
    made = make_site(tmp_path, kafka_bootstrap, es_url, watch_section(free_port()), setup=False)
    yield made
    remove_site(made)


def test_a_set_up_site_passes_every_check(watched: Site, mailbox: tuple[Mailbox, int]) -> None:
    for parser in PARSERS:
        watched.produce(parser, [b"{}"])  # the topics exist once something was written

    code, lines = check(watched.config_path)

    assert code == 0, lines
    assert all(": ok (" in line for line in lines), lines
    assert "Elasticsearch 9" in verdict(lines, f"search {watched.config.elasticsearch.hosts[0]}")
    assert "1 partitions" in verdict(lines, f"kafka topic {watched.topic('billing')}")
    assert verdict(lines, "setup").startswith("setup: ok (templates, policies and aliases as")
    assert verdict(lines, f"smtp 127.0.0.1:{mailbox[1]}").startswith(
        f"smtp 127.0.0.1:{mailbox[1]}: ok (250"
    )
    assert mailbox[0].messages == [], "check sends no mail"


def test_offline_checks_contact_nothing(bare: Site) -> None:
    code, lines = check(bare.config_path, "--offline")

    assert code == 0, lines
    assert [line.split(":")[0] for line in lines] == ["config", "watch rules", "notifications"]


def test_without_setup_missing_topics_and_no_relay_each_fail_on_their_own_line(bare: Site) -> None:
    code, lines = check(bare.config_path)

    assert code == 1
    assert verdict(lines, f"kafka {bare.kafka_bootstrap}").endswith("ok (PLAINTEXT, metadata read)")
    assert verdict(lines, f"kafka topic {bare.topic('logs')}").endswith("FAIL (no such topic)")
    setup = verdict(lines, "setup")
    assert f"no write alias {bare.index('billing')}: run esbridge setup" in setup
    assert "Connection refused" in next(line for line in lines if line.startswith("smtp "))


def test_templates_of_another_esbridge_version_fail_the_setup_check(watched: Site) -> None:
    name = f"{watched.name}-billing-mappings"
    stored = watched.cluster.get_component_template(name)
    assert stored is not None
    stored["_meta"]["esbridge_hash"] = "0" * 16  # as an older esbridge left it
    for managed in ("created_date_millis", "modified_date_millis"):
        stored.pop(managed, None)
    watched.cluster.put_component_template(name, stored)

    code, lines = check(watched.config_path)

    assert code == 1
    assert f"component_template {name} (updated); run esbridge setup" in verdict(lines, "setup")


def test_unreachable_servers_are_named_without_a_traceback(tmp_path: Path, bare: Site) -> None:
    closed = free_port()
    text = bare.config_path.read_text()
    text = text.replace(bare.kafka_bootstrap, f"127.0.0.1:{closed}")
    text = text.replace(str(bare.config.elasticsearch.hosts[0]), f"http://127.0.0.1:{closed}")
    text = text.replace(
        "session_timeout_ms: 10000", "session_timeout_ms: 10000\n  connect_timeout: 2s"
    )
    config = tmp_path / "closed.yml"
    config.write_text(text)

    code, lines = check(config)

    assert code == 1
    assert "FAIL" in verdict(lines, f"kafka 127.0.0.1:{closed}")
    search = verdict(lines, f"search http://127.0.0.1:{closed}")
    assert "FAIL" in search and f"127.0.0.1:{closed}" in search
