"""`esbridge replay`: archived messages back into an index through today's transforms."""

from __future__ import annotations

import contextlib
import fnmatch
import logging
import signal
import sys
import threading
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from types import FrameType

import click

from esbridge.archive.replay import DayFile, Replay, day_files
from esbridge.archive.schema import producer_mappings
from esbridge.cli.logsetup import setup_logging
from esbridge.cli.options import log_level_option, read_config
from esbridge.cluster.search import SearchCluster
from esbridge.config import Config, ProducerConfig
from esbridge.errors import EsbridgeError, UsageError
from esbridge.ingest.pipeline import open_sender
from esbridge.ingest.sender import connect_patiently
from esbridge.resources import example_config

log = logging.getLogger("esbridge.replay")

DAY = click.DateTime(["%Y-%m-%d"])


@contextlib.contextmanager
def config_file(path: Path | None) -> Iterator[Path]:
    """The given config, else the shipped example (endpoints from the environment)."""
    if path is not None:
        yield path
        return
    with example_config() as shipped:
        yield shipped


def producer_named(config: Config, name: str) -> ProducerConfig:
    for producer in config.producers:
        if producer.name == name:
            return producer
    names = ", ".join(p.name for p in config.producers)
    raise UsageError(f"--producer {name}: not a producer of the config (expected one of {names})")


def prepare_target(
    cluster: SearchCluster, config: Config, producer: ProducerConfig, index: str
) -> bool:
    """Makes sure `index` can be written; True when it is a write alias (`require_alias`).

    A name that does not exist yet becomes a plain index with the producer's mappings of
    today, so rejections (dead letters) follow the same rules as in the producer's index.
    """
    if not cluster.alias_exists(config.deadletter.index):
        raise EsbridgeError(
            f"the dead-letter alias {config.deadletter.index} does not exist: "
            "run `esbridge setup` first"
        )
    if cluster.alias_exists(index):
        return True
    if cluster.index_exists(index):
        return False
    if fnmatch.fnmatchcase(index, f"{producer.index}-*"):
        log.warning(
            "index %s matches the template of %s-*: it also gets that template's lifecycle "
            "settings; a name outside that pattern keeps it apart",
            index,
            producer.index,
        )
    settings = {
        "index.number_of_shards": producer.shards,
        "index.number_of_replicas": producer.replicas,
        "index.mapping.total_fields.limit": producer.total_fields_limit,
    }
    cluster.create_index(
        index, {"settings": settings, "mappings": producer_mappings(config, producer)}
    )
    log.info("created index %s with the mappings of producer %s", index, producer.name)
    return False


@click.command()
@click.option(
    "--from-archive",
    "root",
    type=click.Path(file_okay=False, path_type=Path),
    help="The archive's root (default: archive.root of the config).",
)
@click.option("--producer", required=True, help="Whose archived messages to replay.")
@click.option("--since", required=True, type=DAY, help="First day (UTC, YYYY-MM-DD), inclusive.")
@click.option("--until", required=True, type=DAY, help="Last day (UTC, YYYY-MM-DD), inclusive.")
@click.option(
    "-c",
    "--config",
    "config_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="YAML config (default: the shipped examples/dcache.yml, endpoints from the environment).",
)
@click.option(
    "--index",
    help="Where the documents go (default: the producer's index). A name that does not exist "
    "is created with the producer's mappings.",
)
@click.option("--dry-run", is_flag=True, help="Show the files and record count; send nothing.")
@log_level_option
def replay(
    root: Path | None,
    producer: str,
    since: datetime,
    until: datetime,
    config_path: Path | None,
    index: str | None,
    dry_run: bool,
    log_level: str,
) -> None:
    """Re-index archived messages through today's transforms (after a parser fix or a mapping
    change, or to bring a past month back).

    Ids are those ingest gives (<topic id>-<partition>-<offset>), so a replay over documents
    already there stores no copies (409); records that do not parse or that the index rejects
    become dead letters, as in ingest. Progress with rate and ETA goes to stderr.
    """
    with config_file(config_path) as path:
        config = read_config(path)
    setup_logging(log_level)
    chosen = producer_named(config, producer)
    first, last = since.date(), until.date()
    if first > last:
        raise UsageError("--since must not be after --until")
    archive_root = root or (Path(config.archive.root) if config.archive else None)
    if archive_root is None:
        raise UsageError("no archive: give --from-archive ROOT or an archive: section")
    files = day_files(archive_root, chosen.name, first, last)
    total = sum(f.rows for f in files)
    target = index or chosen.index
    click.echo(
        f"replay: {len(files)} files, {total} records of {chosen.name} from {first} to {last} "
        f"-> {target}",
        err=True,
    )
    if dry_run or not files:
        sys.exit(0)
    sys.exit(run(config, chosen, target, files))


def run(
    config: Config,
    producer: ProducerConfig,
    index: str,
    files: list[DayFile],
) -> int:
    stop = threading.Event()
    running: list[Replay] = []

    def request_stop(signum: int, _frame: FrameType | None) -> None:
        stop.set()
        for one in running:
            one.stop.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    cluster = connect_patiently(config.elasticsearch, config.ingest, stop)
    if cluster is None:
        return 0
    with cluster:
        require_alias = prepare_target(cluster, config, producer, index)
        sender = open_sender(config, cluster)
        job = Replay(
            config,
            producer,
            index,
            sender,
            require_alias=require_alias,
            progress=lambda line: click.echo(line, err=True),
        )
        running.append(job)
        settled, stats = job.run(files)
    click.echo(stats.summary(), err=True)
    failure = sender.failure
    if isinstance(failure, EsbridgeError):
        log.error("%s", failure)
        return failure.exit_code
    if failure is not None:
        log.error("stopped on an unexpected error: %s", failure)
        return 1
    if stop.is_set():
        log.info("stopped: run the same replay again to finish (the ids make that safe)")
        return 0
    return 0 if settled else 1
