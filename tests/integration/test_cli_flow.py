"""The operator's commands in their own processes: setup, simulate, ingest, bad config."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.helpers.sites import PARSERS, Site


def esbridge(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "esbridge", *args],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def test_setup_twice_changes_nothing_the_second_time(site: Site) -> None:
    first = esbridge("setup", "-c", str(site.config_path), "--json")
    second = esbridge("setup", "-c", str(site.config_path))

    assert first.returncode == 0, first.stderr
    actions = {change["action"] for change in json.loads(first.stdout)}
    assert actions <= {"created", "updated", "unchanged", "skipped"}
    assert second.returncode == 0, second.stderr
    assert "changed 0 of" in second.stdout


def test_simulated_site_with_incidents_is_ingested_without_dead_letters(site: Site) -> None:
    simulate = esbridge(
        "simulate", "-c", str(site.config_path), "--rate", "0", "--count", "3000",
        "--incidents", "--json",
    )  # fmt: skip
    assert simulate.returncode == 0, simulate.stderr
    sent = json.loads(simulate.stdout)
    assert sum(sent["sent"].values()) == 3000
    assert sent["incidents"], "--incidents must inject pool incidents"

    ingest = esbridge("ingest", "-c", str(site.config_path), "--idle-exit", "4")

    assert ingest.returncode == 0, ingest.stderr[-3000:]
    assert "summary" in ingest.stderr
    counts = {parser: site.count(site.index(parser)) for parser in PARSERS}
    assert counts == {parser: sent["sent"].get(site.topic(parser), 0) for parser in PARSERS}
    assert site.count(site.deadletter) == 0
    site.cluster.refresh(site.index("logs"))
    disabled = site.cluster.count(site.index("logs"), {"prefix": {"dcache.pool.mode": "disabled"}})
    assert disabled > 0


def test_bad_config_fails_naming_key_and_line_without_a_traceback(tmp_path: Path) -> None:
    config = tmp_path / "bad.yml"
    config.write_text(
        "kafka:\n  bootstrap: 127.0.0.1:9092\n  grup_id: typo\n"
        "elasticsearch:\n  hosts: [http://127.0.0.1:9200]\n"
        "producers: []\n"
    )

    result = esbridge("ingest", "-c", str(config))

    assert result.returncode == 2
    assert "bad.yml:3: kafka.grup_id" in result.stderr
    assert "Traceback" not in result.stderr
