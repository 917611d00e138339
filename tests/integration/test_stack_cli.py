"""`esbridge stack up | status | down` as an operator runs them, each in a new process.

Beside the default Elasticsearch 9 stack, OpenSearch 3 and a secured Elasticsearch 8 run here
once each (one engine at a time); the engine nodes themselves are tested in
test_stack_engines.py and test_cluster_layer.py.
"""

from __future__ import annotations

import base64
import json
import shutil
import ssl
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from kafka import KafkaAdminClient

from esbridge.stack import process
from esbridge.stack.artifacts import elasticsearch_zip, kafka_libs
from esbridge.stack.engines import engine_zip, resolve

PORTS = ("--kafka-port", "0", "--es-port", "0")


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "esbridge", "stack", *args],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def pids_of(directory: Path) -> list[int]:
    """Kafka's pid and the search node's (`elasticsearch.pid` or `opensearch.pid`)."""
    state = json.loads((directory / "stack.json").read_text())
    es_root = Path(state["es_root"])
    files = [directory / "kafka" / "kafka.pid", *es_root.glob("*.pid")]
    return [int(f.read_text()) for f in files if f.exists()]


def one_line_error(result: subprocess.CompletedProcess[str]) -> str:
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


@pytest.fixture
def directory(tmp_path: Path) -> Iterator[Path]:
    """The stack's folder. Its node folder goes after the test, also where root moved it to
    /var/lib/esbridge, which pytest's tmp_path clean-up never reaches."""
    folder = tmp_path / "stack"
    yield folder
    state_file = folder / "stack.json"
    if state_file.exists():
        root = Path(json.loads(state_file.read_text())["es_root"])
        if not root.is_relative_to(tmp_path):
            shutil.rmtree(root.parent, ignore_errors=True)


def authenticated_user(es: dict[str, str]) -> str:
    """`_security/_authenticate` over TLS checked against the printed CA, as the printed user."""
    request = urllib.request.Request(es["url"] + "/_security/_authenticate")
    token = base64.b64encode(f"{es['username']}:{es['password']}".encode()).decode()
    request.add_header("Authorization", f"Basic {token}")
    context = ssl.create_default_context(cafile=es["ca"])
    with urllib.request.urlopen(request, context=context, timeout=10) as response:
        return str(json.loads(response.read())["username"])


def test_stack_up_status_down_leaves_no_process(directory: Path) -> None:
    kafka_libs(), elasticsearch_zip()  # the cache is filled (by the session stack, or now)
    up = run_cli("up", "--dir", str(directory), "--kafka-port", "0", "--es-port", "0", "--json")
    try:
        assert up.returncode == 0, up.stderr[-3000:]
        info = json.loads(up.stdout)
        assert "fetching" not in up.stderr, "a second `up` must reuse the cached artifacts"
        assert info["kafka"]["version"].startswith("4.")
        assert info["elasticsearch"]["version"].startswith("9.")
        assert info["elasticsearch"]["distribution"] == "elasticsearch"
        assert info["elasticsearch"]["engine"] == "elasticsearch-9"
        assert "username" not in info["elasticsearch"]
        state = json.loads((directory / "stack.json").read_text())
        assert Path(state["es_root"]).name == "elasticsearch"
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


def test_up_on_a_running_stack_leaves_it_alone_unless_restart(directory: Path) -> None:
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


def test_opensearch_3_stack_says_what_runs_and_down_stops_it(directory: Path) -> None:
    kafka_libs(), engine_zip(resolve("opensearch-3"))
    up = run_cli("up", "--dir", str(directory), *PORTS, "--engine", "opensearch-3", "--json")
    try:
        assert up.returncode == 0, up.stderr[-3000:]
        es = json.loads(up.stdout)["elasticsearch"]
        assert (es["distribution"], es["engine"], es["version"]) == (
            "opensearch",
            "opensearch-3",
            "3.3.2",
        )
        pids = pids_of(directory)
        assert len(pids) == 2 and all(process.alive(pid) for pid in pids)

        status = run_cli("status", "--dir", str(directory), "--json")
        other = run_cli("up", "--dir", str(directory), *PORTS, "--engine", "elasticsearch-9")

        assert status.returncode == 0, status.stdout
        report = json.loads(status.stdout)["elasticsearch"]
        assert (report["engine"], report["version"], report["url"]) == (
            "opensearch-3",
            "3.3.2",
            es["url"],
        )
        assert report["health"] in ("green", "yellow")
        assert other.returncode == 2
        assert "runs OpenSearch 3.3.2 (opensearch-3), not elasticsearch-9" in one_line_error(other)
        assert pids_of(directory) == pids and all(process.alive(pid) for pid in pids)
    finally:
        down = run_cli("down", "--dir", str(directory))

    assert down.returncode == 0 and "opensearch (pid" in down.stdout
    assert not any(process.alive(pid) for pid in pids)


def test_opensearch_2_secure_is_refused_in_one_line_and_starts_nothing(directory: Path) -> None:
    up = run_cli("up", "--dir", str(directory), "--engine", "opensearch-2", "--secure")

    assert up.returncode == 2
    assert "no security plugin: --secure is not available for opensearch-2" in one_line_error(up)
    assert up.stdout == "" and not directory.exists()


def test_elasticsearch_8_secure_stack_gives_tls_and_the_elastic_user(directory: Path) -> None:
    """What the secured node can do is test_stack_engines.py's; this is the wiring: the JSON
    an operator gets, and that exactly those credentials and that CA are accepted."""
    kafka_libs(), engine_zip(resolve("elasticsearch-8"))
    up = run_cli(
        "up", "--dir", str(directory), *PORTS, "--engine", "elasticsearch-8", "--secure", "--json"
    )
    try:
        assert up.returncode == 0, up.stderr[-3000:]
        es = json.loads(up.stdout)["elasticsearch"]
        assert (es["engine"], es["version"], es["username"]) == (
            "elasticsearch-8",
            "8.19.7",
            "elastic",
        )
        assert es["url"].startswith("https://") and Path(es["ca"]).is_file() and es["password"]
        assert authenticated_user(es) == "elastic"

        status = run_cli("status", "--dir", str(directory), "--json")

        report = json.loads(status.stdout)["elasticsearch"]
        assert status.returncode == 0
        assert report["secure"] is True and report["health"] in ("green", "yellow")
    finally:
        down = run_cli("down", "--dir", str(directory))
    assert down.returncode == 0
