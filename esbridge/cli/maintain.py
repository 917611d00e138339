"""`esbridge maintain`: rollover and retention on clusters without ILM or ISM."""

from __future__ import annotations

import signal
import sys
import threading
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType

import click

from esbridge.cli.durations import DURATION
from esbridge.cli.options import config_option, read_config
from esbridge.cluster.search import connect
from esbridge.errors import EsbridgeError
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
def maintain_command(config_path: Path, dry_run: bool, interval: float | None) -> None:
    """Roll write aliases over and delete expired indices where neither ILM nor ISM does.

    Per producer and for the dead letters: roll over when the write index reaches
    rollover_max_age or rollover_max_primary_shard_size, delete a backing index whose newest
    document was ingested more than retention_days ago. Only indices esbridge's setup made are
    deleted, never the write index. Where ILM or ISM manages an alias, its state is reported
    and nothing is done. One line per action, then a summary; exit 1 if an alias was skipped.
    """
    config = read_config(config_path)
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
            try:
                tally = maintain(cluster, series, now=datetime.now(UTC), dry_run=dry_run, emit=emit)
            except EsbridgeError as err:
                if interval is None:
                    raise
                click.echo(f"error: {err}", err=True)  # the next pass tries again
            else:
                click.echo(tally.summary())
                if interval is None:
                    sys.exit(1 if tally.skipped else 0)
            if stop.wait(interval):
                return
