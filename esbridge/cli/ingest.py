"""`esbridge ingest`: the Kafka -> Elasticsearch bridge."""

from __future__ import annotations

import signal
import sys
import threading
import time
from pathlib import Path
from types import FrameType

import click

from esbridge.cli.logsetup import log_format_option, setup_logging
from esbridge.cli.options import config_option, log_level_option, metrics_port_option, read_config
from esbridge.cluster.search import SearchCluster
from esbridge.config import Config
from esbridge.errors import EsbridgeError
from esbridge.ingest.pipeline import Pipeline, RunLimits, open_pipeline
from esbridge.ingest.runtime import tune_for_streaming
from esbridge.ingest.sender import connect_patiently
from esbridge.ingest.stats import SendCounters
from esbridge.metrics import IngestMetrics, Serving
from esbridge.metrics.health import ingest_health
from esbridge.setup.preflight import setup_problems


@click.command()
@config_option
@click.option(
    "--idle-exit",
    type=click.FloatRange(min=0),
    help="Exit once no message arrived for this many seconds and all is committed.",
)
@click.option("--max-messages", type=click.IntRange(min=1), help="Stop after N messages.")
@metrics_port_option
@click.option(
    "--shutdown-timeout",
    type=click.FloatRange(min=0),
    default=30.0,
    show_default=True,
    help="Seconds to settle in-flight batches on shutdown before giving up (nothing is lost: "
    "unsettled messages stay uncommitted).",
)
@log_level_option
@log_format_option
def ingest(
    config_path: Path,
    idle_exit: float | None,
    max_messages: int | None,
    metrics_port: int | None,
    shutdown_timeout: float,
    log_level: str,
) -> None:
    """Kafka topics -> per-producer indices (the bridge).

    Consumes every producer's topics into its Elasticsearch index, at-least-once with
    deterministic ids (no duplicates on replay). Messages that cannot be indexed go to the
    dead-letter index with their reason. SIGTERM/SIGINT: stop polling, flush, commit, exit 0.
    With --metrics-port (or metrics.port), serves Prometheus metrics on /metrics and /healthz
    (503 once nothing was committed for metrics.stall_flushes flush intervals while lag > 0).
    """
    config = read_config(config_path)
    setup_logging(log_level)
    stop = threading.Event()
    running: list[Pipeline] = []

    def request_stop(signum: int, _frame: FrameType | None) -> None:
        stop.set()
        for pipeline in running:
            pipeline.request_stop()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    counters = SendCounters()
    serving = Serving("ingest")
    metrics = IngestMetrics(serving.registry, retries=counters.snapshot)
    metrics.progress.endpoint = ", ".join(config.elasticsearch.hosts)
    stall = config.metrics.stall_flushes * config.ingest.flush_interval
    serving.start(
        config.metrics,
        metrics_port,
        lambda: ingest_health(metrics.progress, time.monotonic(), stall),
    )
    try:
        code = run_ingest(config, config_path, stop, running, metrics, counters, RunLimits(
            idle_exit=idle_exit, max_messages=max_messages, shutdown_timeout=shutdown_timeout
        ))  # fmt: skip
    finally:
        serving.close()
    sys.exit(code)


def run_ingest(
    config: Config,
    config_path: Path,
    stop: threading.Event,
    running: list[Pipeline],
    metrics: IngestMetrics,
    counters: SendCounters,
    limits: RunLimits,
) -> int:
    cluster = connect_patiently(config.elasticsearch, config.ingest, stop, counters=counters)
    if cluster is None:  # stopped while waiting for the cluster: nothing was read
        return 0
    metrics.progress.connected = True
    with cluster:
        refuse_without_setup(cluster, config, config_path)
        pipeline = open_pipeline(config, cluster, limits, metrics, counters)
        running.append(pipeline)
        if stop.is_set():
            pipeline.request_stop()
        tune_for_streaming()
        code = pipeline.run()
    if code != 0:
        metrics.progress.failure = f"ingest stopped with exit code {code}"
    return code


def refuse_without_setup(cluster: SearchCluster, config: Config, config_path: Path) -> None:
    """Stop before reading a message when setup has not run: ingest would otherwise wait on
    refused writes (or, without aliases, let Elasticsearch auto-create plain indices)."""
    problems = setup_problems(cluster, config)
    if problems:
        raise EsbridgeError(
            f"{cluster.flavour.label} is not set up for {config_path}; run "
            f"`esbridge setup -c {config_path}` first:\n  " + "; ".join(problems)
        )
