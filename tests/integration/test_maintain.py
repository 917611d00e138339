"""`esbridge maintain` on real engines without ILM or ISM: Elasticsearch 9 and OpenSearch 2.

Documents are backdated (their ingest time 40 days ago, beyond `retention_days: 30`), and the
producers' thresholds are made tiny in the config (`rollover_max_age: 1ms` for billing,
`rollover_max_primary_shard_size: 1b` for logs) instead of waiting. Around them: an index
that matches the alias's pattern but is not behind it, and one behind the alias that esbridge's
template did not make; both must survive.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from esbridge import __version__
from esbridge.cli import main
from esbridge.cluster.search import SearchCluster
from esbridge.config import Config, load_config
from esbridge.setup.installer import install
from esbridge.setup.templates import Target, bootstrap_index_name, render_resources
from esbridge.utc import format_utc
from tests.helpers.engines import engine_url, remove_installed
from tests.helpers.metrics import health, sample, scrape, wait_until
from tests.helpers.watching import free_port

LONG_AGO = format_utc(datetime.now(UTC) - timedelta(days=40))


@pytest.fixture(scope="module", params=["elasticsearch-9", "opensearch-2"])
def cluster(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[SearchCluster]:
    with engine_url(request.param, request, tmp_path_factory) as url:
        connected = SearchCluster.connect([url], request_timeout=60)
        yield connected
        connected.close()


@dataclass(frozen=True)
class Site:
    path: Path
    config: Config
    billing: str
    logs: str
    deadletter: str


def write_config(directory: Path, name: str, url: str) -> Path:
    path = directory / "esbridge.yml"
    path.write_text(
        f"""
template_prefix: {name}
kafka:
  bootstrap: 127.0.0.1:9
elasticsearch:
  hosts: ["{url}"]
producers:
  - name: billing
    topics: [{name}-billing]
    parser: billing
    index: {name}-billing
    retention_days: 30
    rollover_max_age: 1ms
  - name: logs
    topics: [{name}-logs]
    parser: logs
    index: {name}-logs
    retention_days: 30
    rollover_max_age: 30d
    rollover_max_primary_shard_size: 1b
deadletter:
  index: {name}-deadletter
  retention_days: 30
""",
        encoding="utf-8",
    )
    return path


@pytest.fixture
def site(tmp_path: Path, cluster: SearchCluster) -> Iterator[Site]:
    """A config set up on the cluster (as `esbridge setup` does), removed afterwards."""
    name = f"mt{uuid.uuid4().hex[:10]}"
    path = write_config(tmp_path, name, cluster.where)
    config = load_config(path, environ={})
    resources = render_resources(
        config.producers, config.deadletter, target=Target.of(cluster), prefix=name
    )
    install(cluster, resources, dry_run=False)
    yield Site(path, config, f"{name}-billing", f"{name}-logs", f"{name}-deadletter")
    remove_installed(cluster, resources)


def document(ingested: str) -> dict[str, Any]:
    return {"@timestamp": ingested, "producer": "p", "event": {"ingested": ingested}}


def run_maintain(site: Site, *args: str) -> Result:
    return CliRunner().invoke(main, ["maintain", "-c", str(site.path), *args])


def indices(cluster: SearchCluster, site: Site) -> dict[str, dict[str, bool | None]]:
    """Every index under the site's names, with the aliases it is behind (write flag)."""
    found = cluster.get_index(f"{site.config.template_prefix}-*")
    return {
        name: {alias: entry.get("is_write_index") for alias, entry in body["aliases"].items()}
        for name, body in found.items()
    }


def lines(result: Result) -> list[str]:
    return [" ".join(line.split()) for line in result.stdout.splitlines()]


def test_maintain_rolls_over_deletes_what_expired_and_keeps_the_write_index_and_foreign_ones(
    cluster: SearchCluster, site: Site
) -> None:
    old_billing = bootstrap_index_name(site.billing)
    new_billing = f"{site.billing}-000002"
    old_deadletters = bootstrap_index_name(site.deadletter)
    for number in range(3):
        cluster.index(site.billing, document(LONG_AGO), doc_id=f"b{number}")
    cluster.index(site.logs, document(format_utc(datetime.now(UTC))), doc_id="l0")
    cluster.index(site.deadletter, {"@timestamp": LONG_AGO, "producer": "billing"}, doc_id="d0")
    cluster.rollover(site.deadletter)  # by hand: the dead letters roll over at 7d or 10gb
    matching = f"{site.billing}-copy"  # matches the template's pattern, not behind the alias
    cluster.create_index(matching)
    cluster.index(matching, document(LONG_AGO), doc_id="m0")
    legacy = f"{site.billing}-legacy"  # behind the alias, shaped by the template, not esbridge's
    cluster.create_index(legacy)
    cluster.put_alias(legacy, site.billing, is_write_index=False)
    cluster.index(legacy, document(LONG_AGO), doc_id="g0")
    cluster.refresh(f"{site.config.template_prefix}-*")
    before = indices(cluster, site)

    dry = run_maintain(site, "--dry-run")

    assert dry.exit_code == 0, dry.output
    assert indices(cluster, site) == before
    found = lines(dry)
    assert found[-1] == (
        f"{cluster.flavour.label}: would roll over 2 of 3 write aliases, "
        "would delete 1 of 5 backing indices"
    )
    assert f"would roll over {site.billing}: {old_billing} -> {new_billing} (created" in found[0]
    assert "rollover_max_age 1ms" in found[0]
    assert f"kept {site.billing}: {legacy} (not esbridge's: its mappings carry no" in found[1]
    assert found[2].startswith(
        f"would roll over {site.logs}: {bootstrap_index_name(site.logs)} -> {site.logs}-000002 "
        "(primary shard of "
    )
    assert found[3].startswith(f"would delete {site.deadletter}: {old_deadletters} (newest")
    assert len(found) == 5

    first = run_maintain(site)

    assert first.exit_code == 0, first.output
    assert [line.split(" (")[0] for line in lines(first)[:-1]] == [
        f"rolled over {site.billing}: {old_billing} -> {new_billing}",
        f"kept {site.billing}: {legacy}",
        f"rolled over {site.logs}: {bootstrap_index_name(site.logs)} -> {site.logs}-000002",
        f"deleted {site.deadletter}: {old_deadletters}",
    ]
    after_first = indices(cluster, site)
    assert after_first[old_billing] == {site.billing: False}  # the write index a moment ago
    assert after_first[new_billing] == {site.billing: True}
    stamp = cluster.get_index(new_billing)[new_billing]["mappings"]["_meta"]
    assert stamp == {"managed_by": "esbridge", "write_alias": site.billing}
    assert old_deadletters not in after_first

    second = run_maintain(site)

    assert second.exit_code == 0, second.output
    assert [line.split(" (")[0] for line in lines(second)[:-1]] == [
        f"deleted {site.billing}: {old_billing}",
        f"kept {site.billing}: {legacy}",
    ]
    assert lines(second)[-1] == (
        f"{cluster.flavour.label}: rolled over 0 of 3 write aliases, deleted 1 of 6 backing indices"
    )
    remaining = indices(cluster, site)
    assert old_billing not in remaining
    assert remaining[new_billing] == {site.billing: True}  # empty: not rolled over again
    assert remaining[matching] == {}
    assert remaining[legacy] == {site.billing: False}
    assert remaining[bootstrap_index_name(site.logs)] == {site.logs: False}  # recent: kept
    assert cluster.count(matching) == 1 and cluster.count(legacy) == 1


def test_an_alias_that_was_never_set_up_is_skipped_and_the_run_fails(
    cluster: SearchCluster, tmp_path: Path
) -> None:
    name = f"mt{uuid.uuid4().hex[:10]}"
    path = write_config(tmp_path, name, cluster.where)

    result = CliRunner().invoke(main, ["maintain", "-c", str(path)])

    assert result.exit_code == 1
    assert lines(result)[0] == (
        f"skipped {name}-billing (no index template {name}-billing: run esbridge setup)"
    )
    assert lines(result)[-1].endswith("3 aliases skipped")
    assert cluster.get_index(f"{name}-*") == {}


def test_maintain_loop_passes_until_sigterm_then_exits_0(
    cluster: SearchCluster, site: Site
) -> None:
    command = [sys.executable, "-m", "esbridge", "maintain", "-c", str(site.path), "--loop", "1h"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        output = []
        for line in process.stdout:
            output.append(line)
            if "write aliases" in line:  # the first pass's summary: now it waits an hour
                break
        process.send_signal(signal.SIGTERM)
        rest, errors = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()

    assert process.returncode == 0, errors
    assert output[-1].startswith(f"{cluster.flavour.label}: rolled over 0 of 3 write aliases")
    assert rest == ""


def test_maintain_loop_serves_its_passes_as_metrics(cluster: SearchCluster, site: Site) -> None:
    port = free_port()
    command = [sys.executable, "-m", "esbridge", "maintain", "-c", str(site.path), "--loop", "1h",
               "--metrics-port", str(port)]  # fmt: skip
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        found = wait_until(
            lambda: scrape(port),
            lambda s: sample(s, "esbridge_maintain_passes_total", outcome="ok") == 1,
        )
        state = health(port)
        process.send_signal(signal.SIGTERM)
        _, errors = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()

    assert sample(found, "esbridge_maintain_passes_total", outcome="ok") == 1, errors
    assert sample(found, "esbridge_maintain_pass_seconds_count") == 1
    assert sample(found, "esbridge_maintain_rollovers_total") == 0  # nothing is due yet
    assert sample(found, "esbridge_maintain_last_success_timestamp_seconds") > 0
    assert sample(found, "esbridge_up", daemon="maintain", version=__version__) == 1
    assert state == (200, "ok\n")
    assert process.returncode == 0, errors
