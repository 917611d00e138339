"""`esbridge maintain`: rollover and retention on clusters without ILM or ISM."""

from __future__ import annotations

import signal
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType

import click

from esbridge.cli.durations import DURATION
from esbridge.cli.logsetup import log_format_option, setup_logging
from esbridge.cli.options import config_option, metrics_port_option, read_config
from esbridge.cluster.search import connect
from esbridge.config import Config
from esbridge.errors import EsbridgeError
from esbridge.metrics import MaintainMetrics, Serving
from esbridge.metrics.health import cycle_health
from esbridge.setup.maintain import Outcome, line, maintain, series_of


@click.command("maintain")
@config_option
@click.option("--dry-run", is_flag=True, help="List what would be done; change nothing.")
@click.option(
    "--loop",
    "interval",
    type=DURATION,
    metavar="INTERVAL",
    help="Run a pass every INTERVAL (e.g. 1h) until SIGTERM/SIGINT, instead of once.",
)
@metrics_port_option
@log_format_option
def maintain_command(
    config_path: Path, dry_run: bool, interval: float | None, metrics_port: int | None
) -> None:
    """Roll write aliases over and delete expired indices where neither ILM nor ISM does.

    Per producer and for the dead letters: roll over when the write index reaches
    rollover_max_age or rollover_max_primary_shard_size, delete a backing index whose newest
    document was ingested more than retention_days ago. Only indices esbridge's setup made are
    deleted, never the write index. Where ILM or ISM manages an alias, its state is reported
    and nothing is done. One line per action, then a summary; exit 1 if an alias was skipped.
    With --loop and --metrics-port (or metrics.port), serves Prometheus metrics on /metrics and
    /healthz (503 after metrics.failed_cycles failed passes in a row).
    """
    config = read_config(config_path)
    setup_logging("INFO")
    serving = Serving("maintain")
    metrics = MaintainMetrics(serving.registry)
    if interval is not None:
        limit = config.metrics.failed_cycles
        serving.start(
            config.metrics, metrics_port, lambda: cycle_health(metrics.progress, limit, "passes")
        )
    try:
        run(config, dry_run, interval, metrics)
    finally:
        serving.close()


def run(config: Config, dry_run: bool, interval: float | None, metrics: MaintainMetrics) -> None:
    series = series_of(config)
    stop = threading.Event()
    if interval is not None:

        def request_stop(_signum: int, _frame: FrameType | None) -> None:
            stop.set()

        signal.signal(signal.SIGTERM, request_stop)
        signal.signal(signal.SIGINT, request_stop)

    def emit(outcome: Outcome) -> None:
        click.echo(line(outcome, dry_run=dry_run))

    with connect(config.elasticsearch) as cluster:
        while True:
            started = time.monotonic()
            try:
                tally = maintain(cluster, series, now=datetime.now(UTC), dry_run=dry_run, emit=emit)
            except EsbridgeError as err:
                metrics.passed(time.monotonic() - started, error=str(err))
                if interval is None:
                    raise
                click.echo(f"error: {err}", err=True)  # the next pass tries again
            else:
                metrics.passed(
                    time.monotonic() - started,
                    error=None,
                    rollovers=0 if dry_run else tally.rolled_over,
                    deletions=0 if dry_run else tally.deleted,
                    skipped=tally.skipped,
                )
                click.echo(tally.summary())
                if interval is None:
                    sys.exit(1 if tally.skipped else 0)
            if stop.wait(interval):
                return
