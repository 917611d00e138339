"""`esbridge poll`: pool snapshots from dCache's REST API onto Kafka, every poll.interval."""

from __future__ import annotations

import logging
import signal
import sys
import threading
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType

import click

from esbridge.cli.logsetup import setup_logging
from esbridge.cli.options import (
    config_option,
    log_level_option,
    metrics_port_option,
    read_config,
)
from esbridge.errors import UsageError
from esbridge.metrics import PollMetrics, Serving
from esbridge.metrics.health import cycle_health
from esbridge.poll.client import HttpFrontend
from esbridge.poll.cycle import CycleReport, run_cycle
from esbridge.poll.publish import PrintPublisher, Publisher, open_publisher
from esbridge.poll.runner import run_forever

log = logging.getLogger("esbridge.poll")


@click.command()
@config_option
@click.option("--once", is_flag=True, help="Run one cycle and exit (1 if it failed).")
@click.option(
    "--dry-run",
    is_flag=True,
    help="Run one cycle and print each snapshot as a JSON line on stdout; publish nothing.",
)
@metrics_port_option
@log_level_option
def poll(
    config_path: Path, once: bool, dry_run: bool, metrics_port: int | None, log_level: str
) -> None:
    """Publish one snapshot per dCache pool to Kafka every poll.interval (default 15m).

    Each cycle asks the frontend at poll.url for GET /api/v1/pools, then each pool's
    /api/v1/pools/{pool}/usage (poll.concurrency at a time), and publishes one message per
    pool to poll.topic (key: the pool name; value: the flat snapshot `esbridge ingest` parses
    with the poolinfo parser). A cycle that cannot read the pool list publishes nothing;
    cycles start on a fixed schedule. SIGTERM/SIGINT: stop (a cycle still asking publishes
    nothing), exit 0.
    """
    config = read_config(config_path)
    if config.poll is None:
        raise UsageError(f"{config_path} has no poll: section")
    setup_logging(log_level)
    settings = config.poll
    readers = [p.name for p in config.producers if p.parser == "poolinfo"]
    if not any(settings.topic in p.topics for p in config.producers if p.parser == "poolinfo"):
        log.warning(
            "poll.topic %s is not a topic of a poolinfo producer (%s): ingest with this config "
            "will not index the snapshots",
            settings.topic,
            ", ".join(readers) or "there is none",
        )
    stop = threading.Event()

    def request_stop(signum: int, _frame: FrameType | None) -> None:
        log.info("signal %d: stopping", signum)
        stop.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    publisher: Publisher = (
        PrintPublisher() if dry_run else open_publisher(config.kafka, settings.topic)
    )
    serving = Serving("poll")
    metrics = PollMetrics(serving.registry)
    limit = config.metrics.failed_cycles
    serving.start(config.metrics, metrics_port, lambda: cycle_health(metrics.progress, limit))
    try:
        with HttpFrontend(settings) as frontend:

            def cycle(at: datetime) -> CycleReport:
                report = run_cycle(
                    frontend, publisher, at=at, concurrency=settings.concurrency, stop=stop
                )
                if not report.failed:
                    log.info("%s", report.summary())
                metrics.cycle(
                    report.seconds,
                    error=report.error,
                    published=report.published,
                    pools=report.pools,
                    uncached=report.not_cached,
                )
                return report

            if once or dry_run:
                report = cycle(datetime.now(UTC))
                sys.exit(1 if report.failed and not stop.is_set() else 0)
            log.info(
                "polling %s every %gs -> topic %s (%s)",
                settings.url,
                settings.interval,
                settings.topic,
                config.kafka.backend,
            )
            run_forever(cycle, settings.interval, stop)
    finally:
        publisher.close()
        serving.close()
