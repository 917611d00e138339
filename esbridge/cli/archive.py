"""`esbridge archive`: every producer's stream into daily files, exactly once."""

from __future__ import annotations

import signal
import sys
from dataclasses import asdict
from pathlib import Path
from types import FrameType

import click

from esbridge.archive.runner import ArchiveLimits, open_archiver
from esbridge.cli.logsetup import setup_logging
from esbridge.cli.options import (
    config_option,
    log_level_option,
    metrics_port_option,
    read_config,
)
from esbridge.metrics import Health, Serving, archive_metrics


@click.command()
@config_option
@click.option(
    "--idle-exit",
    type=click.FloatRange(min=0),
    help="Exit once no message arrived for this many seconds and everything is archived.",
)
@click.option(
    "--crash-after-rename",
    type=click.IntRange(min=1),
    hidden=True,
    help="Test hook: SIGKILL itself after the Nth set of files is in place, before the commit.",
)
@metrics_port_option
@log_level_option
def archive(
    config_path: Path,
    idle_exit: float | None,
    crash_after_rename: int | None,
    metrics_port: int | None,
    log_level: str,
) -> None:
    """Kafka topics -> <archive.root>/<producer>/year=/month=/day=/ files (Parquet or JSON gz).

    Every message is kept exactly once: its parsed document (the columns of its index) and
    its raw bytes with the Kafka coordinates; a record that does not parse is kept raw with
    its error. Files are written under a temporary name, renamed into place, and only then
    are offsets committed; a start resumes after the highest offset in the file names. Its
    own consumer group (archive.group_id). SIGTERM/SIGINT: write what is buffered, commit,
    exit 0.
    """
    config = read_config(config_path)
    setup_logging(log_level)
    archiver = open_archiver(
        config, ArchiveLimits(idle_exit=idle_exit, crash_after_rename=crash_after_rename)
    )

    def request_stop(signum: int, _frame: FrameType | None) -> None:
        archiver.stop.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    serving = Serving("archive")
    archive_metrics(serving.registry, lambda: asdict(archiver.stats))
    serving.start(config.metrics, metrics_port, lambda: _health(archiver.fatal))
    try:
        code = archiver.run()
    finally:
        serving.close()
    sys.exit(code)


def _health(fatal: Exception | None) -> Health:
    """Unhealthy once the archiver met an error that ends its run (e.g. the root not writable)."""
    return Health(True) if fatal is None else Health(False, str(fatal))
