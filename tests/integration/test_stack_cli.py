"""`esbridge stack up | status | down` as an operator runs them, each in a new process."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from kafka import KafkaAdminClient

from esbridge.stack import process
from esbridge.stack.artifacts import elasticsearch_zip, kafka_libs


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "esbridge", "stack", *args],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def pids_of(directory: Path) -> list[int]:
    state = json.loads((directory / "stack.json").read_text())
    es_root = Path(state["es_root"])
    files = [directory / "kafka" / "kafka.pid", es_root / "elasticsearch.pid"]
    return [int(f.read_text()) for f in files if f.exists()]


def test_stack_up_status_down_leaves_no_process(tmp_path: Path) -> None:
    directory = tmp_path / "stack"
    kafka_libs(), elasticsearch_zip()  # the cache is filled (by the session stack, or now)
    up = run_cli("up", "--dir", str(directory), "--kafka-port", "0", "--es-port", "0", "--json")
    try:
        assert up.returncode == 0, up.stderr[-3000:]
        info = json.loads(up.stdout)
        assert "fetching" not in up.stderr, "a second `up` must reuse the cached artifacts"
        assert info["kafka"]["version"].startswith("4.")
        assert info["elasticsearch"]["version"].startswith("9.")
        pids = pids_of(directory)
        assert len(pids) == 2 and all(process.alive(pid) for pid in pids)

        status = run_cli("status", "--dir", str(directory), "--json")
        report = json.loads(status.stdout)
        assert status.returncode == 0
        assert report["kafka"]["healthy"] is True
        assert report["elasticsearch"]["health"] in ("green", "yellow")
        assert report["elasticsearch"]["url"] == info["elasticsearch"]["url"]
    finally:
        down = run_cli("down", "--dir", str(directory))

    assert down.returncode == 0
    assert not any(process.alive(pid) for pid in pids)
    after = run_cli("status", "--dir", str(directory), "--json")
    assert after.returncode == 1
    assert json.loads(after.stdout)["elasticsearch"]["pid"] is None


def test_stack_down_without_a_stack_says_nothing_was_running(tmp_path: Path) -> None:
    result = run_cli("down", "--dir", str(tmp_path / "none"))

    assert result.returncode == 0
    assert "nothing was running" in result.stdout


def test_up_on_a_running_stack_leaves_it_alone_unless_restart(tmp_path: Path) -> None:
    directory = tmp_path / "stack"
    ports = ("--kafka-port", "0", "--es-port", "0")
    first = run_cli("up", "--dir", str(directory), *ports, "--kafka-sasl", "--json")
    try:
        assert first.returncode == 0, first.stderr[-3000:]
        info = json.loads(first.stdout)
        pids = pids_of(directory)

        again = run_cli("up", "--dir", str(directory), *ports)

        assert again.returncode == 0, again.stderr[-3000:]
        assert "is already up" in again.stdout
        assert info["kafka"]["bootstrap"] in again.stdout
        assert info["elasticsearch"]["url"] in again.stdout
        assert pids_of(directory) == pids and all(process.alive(pid) for pid in pids)
        kafka = info["kafka"]
        assert kafka["sasl_mechanism"] == "SCRAM-SHA-512"
        admin = KafkaAdminClient(
            bootstrap_servers=kafka["sasl_bootstrap"],
            security_protocol="SASL_PLAINTEXT",
            sasl_mechanism=kafka["sasl_mechanism"],
            sasl_plain_username=kafka["sasl_username"],
            sasl_plain_password=kafka["sasl_password"],
        )
        try:
            assert admin.describe_cluster()["brokers"]
        finally:
            admin.close()

        restarted = run_cli("up", "--dir", str(directory), *ports, "--restart", "--json")

        assert restarted.returncode == 0, restarted.stderr[-3000:]
        moved = json.loads(restarted.stdout)
        assert moved["already_up"] is False
        assert not any(process.alive(pid) for pid in pids)
        assert all(process.alive(pid) for pid in pids_of(directory))
    finally:
        down = run_cli("down", "--dir", str(directory))
    assert down.returncode == 0
