"""`esbridge poll` end to end: a stand-in dCache frontend (HTTPS, Basic login; dCache itself
cannot run here, tests/helpers/dcache_frontend.py answers as its serialisers write), the real
Kafka, then `esbridge ingest` into the real Elasticsearch and searches over the snapshots."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from kafka import KafkaConsumer

from tests.helpers.dcache_frontend import (
    LAST_MODIFIED,
    Frontend,
    Route,
    TiB,
    basic_login,
    dcache_frontend,
    make_certificate,
    new_server_usage,
    old_server_usage,
    pool_entry,
    pools_answer,
    server_tls,
    usage_path,
)
from tests.helpers.sites import Site, make_site, remove_site

POOLS = [
    pool_entry("pool_new", ["default", "cms-disk"], ["cms-link"]),
    pool_entry("pool_old", ["default"], []),
    pool_entry("pool_empty", ["tape"], ["tape-link"]),
    pool_entry("pool_slow", ["default"], []),
    pool_entry("pool_broken", ["default"], []),
    pool_entry("pool#7", ["default"], []),
]
NAMES = [entry["name"] for entry in POOLS]


def routes() -> dict[str, Route]:
    """A site whose frontend gives every shape a poller meets in one cycle."""
    modified = {"Last-Modified": LAST_MODIFIED}
    return {
        "/api/v1/pools": pools_answer(POOLS),
        usage_path("pool_new"): Route(
            new_server_usage("pool_new", domain="dcache-cms01Domain", precious=2 * TiB),
            headers=modified,
        ),
        usage_path("pool_old"): Route(
            old_server_usage(
                "pool_old",
                domain="oldDomain",
                mode="disabled(store,stage,p2p-client)",
                status=(99, "Pool is read-only: I/O errors"),
                tags={},
                addresses=("127.0.0.1", "pool-old.example.org"),
            )
        ),
        usage_path("pool_empty"): Route({}, headers=modified),
        usage_path("pool_slow"): Route(new_server_usage("pool_slow", domain="d"), delay=4.0),
        usage_path("pool_broken"): Route({"errors": [{"message": "boom"}]}, status=500),
        usage_path("pool#7"): Route(new_server_usage("pool#7", domain="d7Domain")),
    }


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return make_certificate(tmp_path_factory.mktemp("frontend-tls"), "frontend")


@pytest.fixture
def frontend(certificate: tuple[Path, Path]) -> Iterator[Frontend]:
    with dcache_frontend(
        routes(), tls=server_tls(certificate), login=basic_login("esbridge", "s3cret")
    ) as running:
        yield running


def poll_section(frontend: Frontend, ca: Path, *, password: str = "s3cret") -> str:
    return f"""
poll:
  url: {frontend.url}
  username: esbridge
  password: {password}
  ca_certs: {ca}
  timeout: 1s
  concurrency: 2
  interval: 1h
  topic: "{{site}}-poolinfo"
"""


@pytest.fixture
def polled_site(
    tmp_path: Path,
    kafka_bootstrap: str,
    es_url: str,
    frontend: Frontend,
    certificate: tuple[Path, Path],
) -> Iterator[Site]:
    made = make_site(tmp_path, kafka_bootstrap, es_url, poll_section(frontend, certificate[0]))
    yield made
    remove_site(made)


def use_backend(site: Site, backend: str) -> None:
    text = site.config_path.read_text()
    site.config_path.write_text(text.replace("kafka:\n", f"kafka:\n  backend: {backend}\n", 1))


def poll(site: Site, *args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "esbridge", "poll", "-c", str(site.config_path), *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=180, check=False)


def topic_messages(bootstrap: str, topic: str, *, settle: float = 3.0) -> list[tuple[str, Any]]:
    """Every (key, decoded value) on `topic`, read until nothing new came for `settle` s."""
    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=None,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    found: list[tuple[str, Any]] = []
    try:
        if topic not in consumer.topics():
            return found
        consumer.subscribe([topic])
        quiet_since = time.monotonic()
        while time.monotonic() - quiet_since < settle:
            for records in consumer.poll(timeout_ms=500).values():
                found += [(r.key.decode(), orjson.loads(r.value)) for r in records]
                quiet_since = time.monotonic()
    finally:
        consumer.close()
    return found


def search(site: Site, query: dict[str, Any]) -> list[dict[str, Any]]:
    index = site.index("poolinfo")
    site.cluster.refresh(index)
    body = {"size": 100, "query": query}
    return [hit["_source"] for hit in site.cluster.search(index, body)["hits"]["hits"]]


@pytest.mark.parametrize("backend", ["kafka-python", "confluent"])
def test_a_cycle_becomes_one_searchable_snapshot_per_pool(
    polled_site: Site, frontend: Frontend, kafka_bootstrap: str, backend: str
) -> None:
    site = polled_site
    use_backend(site, backend)

    result = poll(site, "--once")

    assert result.returncode == 0, result.stderr
    log = result.stderr.splitlines()
    assert sum("usage of 1 pool(s) failed: timeout: pool_slow" in line for line in log) == 1
    assert sum("usage of 1 pool(s) failed: http 500: pool_broken" in line for line in log) == 1
    assert any("pools=6 published=6 not_cached=3 usage_failed=2" in line for line in log), log
    assert ("/api/v1/pools/pool#7/usage", "Basic ZXNicmlkZ2U6czNjcmV0") in frontend.requests
    published = topic_messages(kafka_bootstrap, site.topic("poolinfo"))
    assert sorted(key for key, _ in published) == sorted(NAMES)
    assert all(value["pool"] == key for key, value in published)

    code, stats = site.ingest()

    assert code == 0
    docs = {d["dcache"]["pool"]["name"]: d for d in search(site, {"match_all": {}})}
    assert sorted(docs) == sorted(NAMES)
    assert len({d["@timestamp"] for d in docs.values()}) == 1  # the cycle's one timestamp
    new = docs["pool_new"]
    assert new["host"]["name"] == "pool_new-host"
    assert new["dcache"]["domain"] == "dcache-cms01Domain"
    assert new["dcache"]["pool"]["space"] == {
        "total": 30 * TiB,
        "free": 6 * TiB,
        "used": 24 * TiB,
        "precious": 2 * TiB,
        "removable": 20 * TiB,
        "gap": 4 << 30,
    }
    assert new["dcache"]["pool"]["last_modified"] == "2026-07-21T10:00:00.000Z"
    assert (new["dcache"]["pool"]["enabled"], new["dcache"]["pool"]["cached"]) == (True, True)
    old = docs["pool_old"]["dcache"]["pool"]
    assert (old["read_only"], old["enabled"], old["dead"]) == (True, False, False)
    assert (old["status_code"], old["status_message"]) == (99, "Pool is read-only: I/O errors")
    assert old["flags"] == ["store", "stage", "p2p-client"]
    assert "precious" not in old["space"] and old["missing"] == ["space_precious"]
    assert docs["pool_old"]["host"]["name"] == "pool-old.example.org"
    assert "last_modified" in old  # from the pool list's header
    assert docs["pool_empty"]["dcache"]["pool"]["cached"] is False
    assert docs["pool_empty"]["dcache"]["pool"]["links"] == ["tape-link"]
    assert docs["pool_slow"]["dcache"]["pool"]["usage_error"] == "timeout"
    assert docs["pool_broken"]["dcache"]["pool"]["usage_error"] == "http 500"
    assert [
        d["dcache"]["pool"]["name"]
        for d in search(site, {"term": {"dcache.pool.groups": "cms-disk"}})
    ] == ["pool_new"]
    assert sorted(
        d["dcache"]["pool"]["name"] for d in search(site, {"term": {"dcache.pool.cached": False}})
    ) == ["pool_broken", "pool_empty", "pool_slow"]
    read_only = search(site, {"term": {"dcache.pool.read_only": True}})
    assert [d["dcache"]["pool"]["name"] for d in read_only] == ["pool_old"]
    used = {"range": {"dcache.pool.space.used": {"gte": 24 * TiB}}}
    assert sorted(d["dcache"]["pool"]["name"] for d in search(site, used)) == [
        "pool#7",
        "pool_new",
        "pool_old",
    ]
    assert stats.dead_letters == 0


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ("password", "HTTP 401"),
        ("pools-500", "HTTP 500"),
        ("pools-slow", "no answer within poll.timeout 1s"),
    ],
)
def test_a_cycle_without_the_pool_list_publishes_nothing_and_exits_1(
    tmp_path: Path,
    kafka_bootstrap: str,
    es_url: str,
    frontend: Frontend,
    certificate: tuple[Path, Path],
    change: str,
    expected: str,
) -> None:
    password = "wrong" if change == "password" else "s3cret"
    if change == "pools-500":
        frontend.routes["/api/v1/pools"] = Route({"errors": []}, status=500)
    if change == "pools-slow":
        frontend.routes["/api/v1/pools"] = Route(POOLS, delay=3.0)
    section = poll_section(frontend, certificate[0], password=password)
    site = make_site(tmp_path, kafka_bootstrap, es_url, section)
    try:
        result = poll(site, "--once")

        assert result.returncode == 1
        errors = [line for line in result.stderr.splitlines() if " ERROR " in line]
        assert len(errors) == 1 and expected in errors[0], result.stderr
        assert "nothing published" in errors[0]
        assert "Traceback" not in result.stderr and "wrong" not in result.stderr
        assert topic_messages(kafka_bootstrap, site.topic("poolinfo"), settle=1.0) == []
        assert not [p for p, _ in frontend.requests if p.endswith("/usage")]
    finally:
        remove_site(site)


def test_dry_run_prints_the_snapshots_and_publishes_nothing(
    polled_site: Site, kafka_bootstrap: str
) -> None:
    result = poll(polled_site, "--dry-run")

    assert result.returncode == 0, result.stderr
    printed = [orjson.loads(line) for line in result.stdout.splitlines()]
    assert [s["pool"] for s in printed] == NAMES
    assert printed[0]["space_total"] == 30 * TiB
    assert topic_messages(kafka_bootstrap, polled_site.topic("poolinfo"), settle=1.0) == []


def test_the_long_running_poller_stops_cleanly_on_sigterm(
    polled_site: Site, kafka_bootstrap: str
) -> None:
    command = [sys.executable, "-m", "esbridge", "poll", "-c", str(polled_site.config_path)]
    process = subprocess.Popen(command, stderr=subprocess.PIPE, text=True)
    guard = threading.Timer(120, process.kill)
    guard.start()
    try:
        assert process.stderr is not None
        seen = []
        for line in process.stderr:
            seen.append(line)
            if "published=6" in line:
                break
        assert any("published=6" in line for line in seen), "".join(seen)
        process.send_signal(signal.SIGTERM)
        rest = process.stderr.read()
        assert process.wait() == 0, rest
    finally:
        guard.cancel()
        if process.poll() is None:
            process.kill()
            process.wait()
    assert "signal 15: stopping" in rest
    assert "Traceback" not in rest
    assert len(topic_messages(kafka_bootstrap, polled_site.topic("poolinfo"))) == 6
