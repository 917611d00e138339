"""The metrics package with fakes: declarations, health rules on a fake clock, the server, and
the ingest counters as the pipeline and the sender update them."""

from __future__ import annotations

import json
import logging
import re
import tempfile
import textwrap
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from esbridge.cli.daemons import DAEMONS
from esbridge.cli.logsetup import JsonFormatter, setup_logging
from esbridge.config import Config, load_config
from esbridge.errors import EsbridgeError
from esbridge.ingest.bulk import Backoff
from esbridge.ingest.encode import DeadLetterTarget, Route, to_item
from esbridge.ingest.message import Message
from esbridge.ingest.pipeline import Pipeline, RunLimits, build_routes
from esbridge.ingest.sender import Batch, BulkSender
from esbridge.ingest.stats import SendCounters, Stats
from esbridge.metrics import (
    IngestMetrics,
    MaintainMetrics,
    PollMetrics,
    Serving,
    WatchMetrics,
    archive_metrics,
    react_metrics,
)
from esbridge.metrics.declare import SPECS, exposed_names
from esbridge.metrics.docs import table
from esbridge.metrics.grafana import dashboard, render
from esbridge.metrics.health import (
    CycleProgress,
    Health,
    IngestProgress,
    cycle_health,
    ingest_health,
)
from esbridge.metrics.serve import PORT_OFFSETS, port_of
from esbridge.metrics.server import MetricsServer
from tests.helpers.configs import MINIMAL
from tests.helpers.paths import REPO
from tests.helpers.seams import (
    FakeClock,
    FakeCluster,
    FakeSender,
    FakeSource,
    billing_messages,
    cluster_error,
)

DECLARED = {name for spec in SPECS for name in exposed_names(spec)}


def value(registry: CollectorRegistry, name: str, **labels: str) -> float:
    found = registry.get_sample_value(name, labels)
    return 0.0 if found is None else found


# --- declarations, dashboard, docs ---------------------------------------------------------


def test_every_metric_follows_the_prometheus_naming_conventions() -> None:
    for spec in SPECS:
        assert re.fullmatch(r"esbridge_[a-z_]+", spec.name), spec.name
        assert spec.name.endswith("_total") == (spec.kind == "counter"), spec.name
        if spec.kind == "histogram":
            assert spec.buckets, spec.name
    assert len({spec.name for spec in SPECS}) == len(SPECS)


def test_the_issue_s_metrics_are_declared_with_their_labels() -> None:
    labels = {spec.name: set(spec.labels) for spec in SPECS}
    assert labels["esbridge_dead_letters_total"] >= {"reason"}
    assert labels["esbridge_retries_total"] == {"cause"}
    assert labels["esbridge_consumer_lag"] == {"topic", "partition"}
    assert labels["esbridge_issues"] == {"status"}
    assert labels["esbridge_notifications_total"] == {"outcome"}
    for name in (
        "esbridge_messages_consumed_total",
        "esbridge_documents_indexed_total",
        "esbridge_replays_total",
        "esbridge_bulk_request_seconds",
        "esbridge_watch_cycle_seconds",
    ):
        assert name in labels


def test_the_committed_dashboard_is_the_rendered_one() -> None:
    committed = (REPO / "pipelines" / "grafana" / "esbridge.json").read_text(encoding="utf-8")
    assert committed == render(), (
        "run: python -m esbridge.metrics.grafana > pipelines/grafana/esbridge.json"
    )


def test_every_panel_queries_declared_metrics_and_every_metric_has_a_panel() -> None:
    exprs = [
        target["expr"] for panel in dashboard()["panels"] for target in panel.get("targets", [])
    ]
    used = {name for expr in exprs for name in re.findall(r"\besbridge_[a-z_]+", expr)}
    assert used <= DECLARED
    assert {spec.name for spec in SPECS} <= {name.removesuffix("_bucket") for name in used}


def test_docs_operations_lists_every_metric_as_declared() -> None:
    text = (REPO / "docs" / "operations.md").read_text(encoding="utf-8")
    assert table() in text, "run: python -m esbridge.metrics.docs and paste into docs/operations.md"


# --- health ---------------------------------------------------------------------------------


def test_ingest_is_healthy_while_idle_however_long_nothing_is_committed() -> None:
    progress = IngestProgress(started=0.0, connected=True, lag=0)
    assert ingest_health(progress, now=10_000.0, limit=30.0) == Health(True)


def test_ingest_turns_unhealthy_when_messages_wait_and_nothing_is_committed() -> None:
    progress = IngestProgress(started=0.0, connected=True, last_commit=100.0, lag=500)
    assert ingest_health(progress, now=129.0, limit=30.0).ok
    health = ingest_health(progress, now=131.0, limit=30.0)
    assert not health.ok
    assert health.reason == "no commit for 31s while 500 messages wait"
    progress.last_commit = 131.0
    assert ingest_health(progress, now=132.0, limit=30.0).ok


def test_ingest_waiting_for_elasticsearch_turns_unhealthy_after_the_limit() -> None:
    progress = IngestProgress(started=0.0, endpoint="http://127.0.0.1:9")
    assert ingest_health(progress, now=29.0, limit=30.0).ok
    health = ingest_health(progress, now=30.0, limit=30.0)
    assert health == Health(False, "no connection to Elasticsearch at http://127.0.0.1:9 for 30s")


def test_an_ingest_that_failed_says_why() -> None:
    progress = IngestProgress(started=0.0, connected=True, failure="ingest stopped with exit 1")
    assert ingest_health(progress, now=1.0, limit=30.0) == Health(False, progress.failure or "")


def test_cycles_turn_unhealthy_after_n_failures_in_a_row_and_recover_on_one_success() -> None:
    progress = CycleProgress()
    for _ in range(2):
        progress.failed("HTTP 503\nmore")
    assert cycle_health(progress, 3).ok
    progress.failed("HTTP 503 unavailable\nmore")
    assert cycle_health(progress, 3) == Health(
        False, "3 consecutive cycles failed, last: HTTP 503 unavailable"
    )
    progress.succeeded()
    assert cycle_health(progress, 3).ok


# --- the server -----------------------------------------------------------------------------


@pytest.fixture
def served() -> Iterator[tuple[Serving, list[Health]]]:
    answers = [Health(True)]
    serving = Serving("ingest")
    serving.start(load_minimal().metrics, 0, lambda: answers[-1])
    yield serving, answers
    serving.close()


def load_minimal(extra: str = "") -> Config:
    return load_config_text(MINIMAL + textwrap.dedent(extra))


def load_config_text(text: str) -> Config:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "esbridge.yml"
        path.write_text(text, encoding="utf-8")
        return load_config(path, environ={})


def get(port: int, path: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def test_the_server_serves_metrics_and_health(served: tuple[Serving, list[Health]]) -> None:
    serving, answers = served
    assert serving.server is not None
    port = serving.server.port
    status, text = get(port, "/metrics")
    assert status == 200
    assert 'esbridge_up{daemon="ingest"' in text
    assert "esbridge_healthy 1.0" in text
    assert get(port, "/healthz") == (200, "ok\n")
    answers.append(Health(False, "no commit for 31s while 5 messages wait"))
    assert get(port, "/healthz") == (503, "no commit for 31s while 5 messages wait\n")
    assert "esbridge_healthy 0.0" in get(port, "/metrics")[1]
    assert get(port, "/nothing")[0] == 404


def test_metrics_are_off_unless_a_port_is_configured() -> None:
    serving = Serving("watch")
    serving.start(load_minimal().metrics, None, lambda: Health(True))
    assert serving.server is None
    configured = load_minimal("metrics:\n  port: 0\n")
    serving = Serving("watch")
    serving.start(configured.metrics, None, lambda: Health(True))
    assert serving.server is not None
    serving.close()


def test_a_port_in_use_is_one_line_naming_it() -> None:
    first = MetricsServer("127.0.0.1", 0, CollectorRegistry(), lambda: Health(True))
    try:
        with pytest.raises(EsbridgeError, match=rf"cannot serve metrics on 127.0.0.1:{first.port}"):
            MetricsServer("127.0.0.1", first.port, CollectorRegistry(), lambda: Health(True))
    finally:
        first.close()


# --- ingest ---------------------------------------------------------------------------------


@pytest.fixture
def config() -> Config:
    return load_minimal("ingest:\n  batch_max_docs: 10\n  flush_interval: 5s\n")


def test_the_pipeline_counts_per_partition_producer_and_reason_and_lag_after_commit(
    config: Config,
) -> None:
    bad = [Message("billing", 1, 0, b"{not json"), Message("billing", 1, 1, None)]
    source = FakeSource(billing_messages(10) + bad, partitions={("billing", 0), ("billing", 1)})
    sender, clock, registry = FakeSender(settle_on_submit=True), FakeClock(), CollectorRegistry()
    metrics = IngestMetrics(registry, retries=sender.counters.snapshot, clock=clock)
    metrics.progress.connected = True
    run = Pipeline(config, source, sender, RunLimits(), clock=clock, metrics=metrics)

    run.handle(source.poll(0, 12))
    run.log_stats()
    lag_before = value(registry, "esbridge_consumer_lag", topic="billing", partition="0")
    run.submit()
    clock.advance(7)
    run.commit_settled()
    run.log_stats()

    consumed = "esbridge_messages_consumed_total"
    assert value(registry, consumed, producer="billing", topic="billing", partition="0") == 10
    assert value(registry, consumed, producer="billing", topic="billing", partition="1") == 2
    assert value(registry, "esbridge_documents_indexed_total", producer="billing") == 10
    dead = {"producer": "billing"}
    assert value(registry, "esbridge_dead_letters_total", **dead, reason="json_decode") == 1
    assert value(registry, "esbridge_dead_letters_total", **dead, reason="not_an_object") == 1
    assert lag_before == 10
    assert value(registry, "esbridge_consumer_lag", topic="billing", partition="0") == 0
    assert value(registry, "esbridge_consumer_lag", topic="billing", partition="1") == 0
    assert value(registry, "esbridge_committed_offset", topic="billing", partition="1") == 2
    assert value(registry, "esbridge_batch_documents_count") == 2
    assert value(registry, "esbridge_seconds_since_last_commit") == 0
    clock.advance(3)
    assert value(registry, "esbridge_seconds_since_last_commit") == 3


def test_retries_are_counted_when_decided_not_when_the_batch_settles() -> None:
    target = DeadLetterTarget("esbridge-deadletter", 4096)
    config = load_minimal()
    route: Route = build_routes(config)["billing"]
    items = [to_item(m, route, target, "2026-11-22T00:00:00.000Z") for m in billing_messages(4)]
    seen: list[dict[str, int]] = []
    counters = SendCounters()
    es = FakeCluster(refuse=cluster_error(503, "unavailable_shards_exception"))

    def recover(requests: int) -> None:
        seen.append(counters.snapshot())
        if requests == 3:
            es.refuse = None

    es.after = recover
    sender = BulkSender(es, target, 0.0, 0.0, workers=0, counters=counters)  # type: ignore[arg-type]
    result = sender.settle(Batch(items, 1, {("billing", 0): 4}), Backoff(0.0, 0.0))

    assert seen[:3] == [{}, {"http_503": 4}, {"http_503": 8}]  # before the batch settled
    assert counters.snapshot() == {"http_503": 8}
    assert len(counters.drain()) == 3
    assert result.tally == {("billing", "indexed", ""): 4}


def test_a_replay_is_counted_apart_from_indexed() -> None:
    target = DeadLetterTarget("esbridge-deadletter", 4096)
    route = build_routes(load_minimal())["billing"]
    es = FakeCluster()
    sender = BulkSender(es, target, 0.0, 0.0, workers=0)  # type: ignore[arg-type]

    def batch() -> Batch:
        items = [to_item(m, route, target, "2026-11-22T00:00:00.000Z") for m in billing_messages(3)]
        return Batch(items, 1, {("billing", 0): 3})

    first = sender.settle(batch(), Backoff(0.0, 0.0))
    again = sender.settle(batch(), Backoff(0.0, 0.0))

    assert (first.indexed, first.duplicates) == (3, 0)
    assert (again.indexed, again.duplicates) == (0, 3)
    assert again.tally == {("billing", "replay", ""): 3}


def test_stats_rates_are_over_the_interval_and_the_summary_over_busy_time() -> None:
    clock = FakeClock()
    stats = Stats(clock)
    clock.advance(100)  # idle before the first message: not in the summary's rate
    stats.read(1000)
    clock.advance(10)
    stats.count(indexed=900, dead_letters=50, replays=50, collisions=0)
    line, fields = stats.interval(lag=0)
    assert fields["msgs_per_s"] == round(1000 / 110, 1)
    assert line.startswith("stats msgs_per_s=9.1 docs_per_s=9.1 consumed=1000 indexed=900 ")
    assert "replays=50" in line
    clock.advance(10)
    assert stats.interval(lag=0)[1]["msgs_per_s"] == 0
    clock.advance(500)  # idle after: not in it either
    line, fields = stats.summary()
    assert fields["busy_s"] == 10.0
    assert fields["docs_per_busy_s"] == 100.0
    assert fields["elapsed_s"] == 620.0


def test_json_log_lines_carry_the_stats_fields_as_keys() -> None:
    record = logging.LogRecord("esbridge.ingest", logging.INFO, "", 0, "%s", ("stats x=1",), None)
    record.fields = {"consumed": 5, "lag": "unknown", "message": "not over the message"}
    entry = json.loads(JsonFormatter().format(record))
    assert entry["level"] == "INFO"
    assert entry["logger"] == "esbridge.ingest"
    assert entry["message"] == "stats x=1"
    assert (entry["consumed"], entry["lag"]) == (5, "unknown")
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", entry["time"])


# --- watch ----------------------------------------------------------------------------------


def test_watch_cycles_update_issues_notifications_actions_and_health() -> None:
    registry = CollectorRegistry()
    metrics = WatchMetrics(registry)
    metrics.cycle(0.5, error=None, statuses={"open": 2, "stale": 1}, notified=True,
                  actions_run=1, actions_refused=2, wall_clock=lambda: 1234.0)  # fmt: skip
    metrics.cycle(0.5, error=None, statuses={"open": 1}, notified=None)
    for _ in range(3):
        metrics.cycle(0.1, error="HTTP 503", notified=False)

    assert value(registry, "esbridge_issues", status="open") == 1
    assert value(registry, "esbridge_issues", status="stale") == 0
    assert value(registry, "esbridge_notifications_total", outcome="sent") == 1
    assert value(registry, "esbridge_notifications_total", outcome="failed") == 3
    assert value(registry, "esbridge_actions_total", outcome="refused") == 2
    assert value(registry, "esbridge_watch_cycles_total", outcome="failed") == 3
    assert value(registry, "esbridge_watch_cycle_seconds_count") == 5
    assert not cycle_health(metrics.progress, 3).ok


def test_one_config_gives_each_daemon_a_port_of_its_own() -> None:
    assert [port_of(d, 9464, None) for d in ("ingest", "watch", "maintain")] == [9464, 9465, 9466]
    assert len({port_of(daemon, 9464, None) for daemon in DAEMONS}) == len(DAEMONS)
    assert port_of("watch", 9464, 9999) == 9999  # --metrics-port is taken as given
    assert port_of("watch", 0, None) == 0  # a free port each
    assert port_of("watch", None, None) is None  # off
    assert set(DAEMONS) <= set(PORT_OFFSETS)
    assert len(set(PORT_OFFSETS.values())) == len(PORT_OFFSETS)


def test_repeated_librdkafka_errors_log_once_then_a_count_in_json_too(
    capsys: pytest.CaptureFixture[str],
) -> None:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        setup_logging("INFO", "json")
        client = logging.getLogger("esbridge.librdkafka")
        for port in range(100):  # lines that differ only in numbers are alike
            client.error("FAIL 127.0.0.1:%d/bootstrap: Connect failed: Connection refused", port)
        lines = capsys.readouterr().err.splitlines()
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
    assert len(lines) == 1
    assert json.loads(lines[0])["logger"] == "esbridge.librdkafka"


def test_maintain_passes_count_what_they_did_and_failures_in_a_row_turn_unhealthy() -> None:
    registry = CollectorRegistry()
    metrics = MaintainMetrics(registry)
    metrics.passed(1.0, error=None, rollovers=2, deletions=3, skipped=1, wall_clock=lambda: 99.0)
    for _ in range(3):
        metrics.passed(0.1, error="HTTP 503 from the cluster")

    assert value(registry, "esbridge_maintain_passes_total", outcome="ok") == 1
    assert value(registry, "esbridge_maintain_passes_total", outcome="failed") == 3
    assert value(registry, "esbridge_maintain_rollovers_total") == 2
    assert value(registry, "esbridge_maintain_deletions_total") == 3
    assert value(registry, "esbridge_maintain_last_success_timestamp_seconds") == 99.0
    assert cycle_health(metrics.progress, 3, "passes") == Health(
        False, "3 consecutive passes failed, last: HTTP 503 from the cluster"
    )


# --- poll, react, archive -------------------------------------------------------------------


def test_poll_cycles_count_snapshots_pools_and_turn_unhealthy_after_failures() -> None:
    registry = CollectorRegistry()
    metrics = PollMetrics(registry)
    metrics.cycle(2.0, error=None, published=5500, pools=5500, uncached=12, wall_clock=lambda: 7.0)
    for _ in range(3):
        metrics.cycle(30.0, error="GET /api/v1/pools: HTTP 401")

    assert value(registry, "esbridge_poll_snapshots_published_total") == 5500
    assert value(registry, "esbridge_poll_pools", state="uncached") == 12
    assert value(registry, "esbridge_poll_pools", state="cached") == 5488
    assert value(registry, "esbridge_poll_cycles_total", outcome="failed") == 3
    assert value(registry, "esbridge_poll_last_success_timestamp_seconds") == 7.0
    health = cycle_health(metrics.progress, 3)
    assert not health.ok and "HTTP 401" in health.reason


def test_react_and_archive_counters_are_read_from_the_loops_counts_at_scrape_time() -> None:
    registry = CollectorRegistry()
    counts = {"scan": {"read": 10, "matched": 4, "ran": 2, "failed": 1, "refused": 1}}
    react_metrics(registry, lambda: counts)
    archived = {
        "consumed": 9,
        "archived": 8,
        "unparsed": 1,
        "files": 2,
        "skipped": 0,
        "buffered": 1,
    }
    archive_metrics(registry, lambda: archived)

    assert value(registry, "esbridge_react_matched_total", reactor="scan") == 4
    assert value(registry, "esbridge_react_actions_total", reactor="scan", outcome="failed") == 1
    counts["scan"]["ran"] = 3  # the loop counts on; the next scrape sees it
    assert value(registry, "esbridge_react_actions_total", reactor="scan", outcome="ok") == 3
    assert value(registry, "esbridge_archive_records_total", kind="parsed") == 7
    assert value(registry, "esbridge_archive_records_total", kind="unparsed") == 1
    assert value(registry, "esbridge_archive_records_buffered") == 1
