"""`esbridge watch`: log signatures -> issues -> one digest per cycle."""

from __future__ import annotations

import logging
import signal
import sys
import threading
from pathlib import Path
from types import FrameType

import click

from esbridge.cli.durations import DURATION
from esbridge.cli.logsetup import log_format_option, setup_logging
from esbridge.cli.options import config_option, log_level_option, metrics_port_option, read_config
from esbridge.cluster import connect
from esbridge.config import Config
from esbridge.errors import UsageError
from esbridge.metrics import Serving, WatchMetrics
from esbridge.metrics.health import cycle_health
from esbridge.notify.dispatch import Notifier
from esbridge.watch.engine import Watcher

log = logging.getLogger("esbridge.watch")


@click.command()
@config_option
@click.option("--once", is_flag=True, help="Run one cycle and exit (1 if the digest failed).")
@click.option(
    "--since",
    type=DURATION,
    help="How far back (in ingest time) a first run looks, e.g. 24h [default: watch.since, 1h].",
)
@click.option(
    "--dry-run",
    is_flag=True,
    help="Evaluate and print the digest; write, send and run nothing.",
)
@metrics_port_option
@log_level_option
@log_format_option
def watch(
    config_path: Path,
    once: bool,
    since: float | None,
    dry_run: bool,
    metrics_port: int | None,
    log_level: str,
) -> None:
    """Turn log signatures into issues and mail a digest of new and changed ones.

    Each cycle evaluates every rule over the lines ingested since the last cycle (re-reading
    watch.lag of ingest time), moves every issue through its lifecycle and sends one digest to
    every notification channel. Several watchers may run at once. SIGTERM/SIGINT: finish the
    cycle, exit 0. With --metrics-port (or metrics.port), serves Prometheus metrics on
    /metrics and /healthz (503 after metrics.failed_cycles failed cycles in a row).
    """
    config = read_config(config_path)
    if config.watch is None:
        raise UsageError(f"{config_path} has no watch: section")
    setup_logging(log_level)
    notifier = None if config.notifications is None else Notifier(config.notifications)
    serving = Serving("watch")
    metrics = WatchMetrics(serving.registry)
    limit = config.metrics.failed_cycles
    serving.start(config.metrics, metrics_port, lambda: cycle_health(metrics.progress, limit))
    try:
        run(config, once, since, dry_run, notifier, metrics)
    finally:
        serving.close()


def run(
    config: Config,
    once: bool,
    since: float | None,
    dry_run: bool,
    notifier: Notifier | None,
    metrics: WatchMetrics,
) -> None:
    with connect(config.elasticsearch) as cluster:
        watcher = Watcher(config, cluster, notifier, dry_run=dry_run, since=since, metrics=metrics)
        if once or dry_run:
            report = watcher.observed_cycle()
            click.echo(report.summary(), err=True)
            if dry_run and report.digest is not None:
                click.echo(f"Subject: {report.digest.subject}\n\n{report.digest.text}")
            sys.exit(1 if report.error else 0)
        stop = threading.Event()

        def request_stop(signum: int, _frame: FrameType | None) -> None:
            log.info("signal %d: stopping after this cycle", signum)
            stop.set()

        signal.signal(signal.SIGTERM, request_stop)
        signal.signal(signal.SIGINT, request_stop)
        watcher.run_forever(stop)
