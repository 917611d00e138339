"""`esbridge react`: run programs or webhooks for matching stream messages (docs/react.md)."""

from __future__ import annotations

import signal
import sys
import threading
from dataclasses import asdict
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
from esbridge.cluster.search import SearchCluster
from esbridge.config import Config
from esbridge.config.react import ReactorConfig
from esbridge.errors import UsageError
from esbridge.ingest.kafka import open_source
from esbridge.ingest.sender import connect_patiently
from esbridge.metrics import Health, Serving, react_metrics
from esbridge.react.actions import Account, Processes, resolve_account
from esbridge.react.runner import (
    POLL_RECORDS,
    ClusterDeadLetters,
    ReactorLoop,
    perform_for,
    run_loops,
)


@click.command()
@config_option
@click.option(
    "--dry-run",
    is_flag=True,
    help="Print each argument list (or webhook body) it would run, as JSON, and run nothing: "
    "no action, no dead letter, no commit, in a consumer group of its own (<group>-dry-run).",
)
@click.option(
    "--reactor",
    "only",
    multiple=True,
    metavar="NAME",
    help="Run only this reactor (repeatable); default: every reactor of the config.",
)
@click.option(
    "--idle-exit",
    type=click.FloatRange(min=0),
    help="Exit once no message arrived for this many seconds and everything is finished.",
)
@click.option(
    "--shutdown-wait",
    type=click.FloatRange(min=0),
    default=10.0,
    show_default=True,
    help="Seconds to let killed actions report before leaving (their messages stay "
    "uncommitted either way).",
)
@metrics_port_option
@log_level_option
def react(
    config_path: Path,
    dry_run: bool,
    only: tuple[str, ...],
    idle_exit: float | None,
    shutdown_wait: float,
    metrics_port: int | None,
    log_level: str,
) -> None:
    """Stream reactors: run a program or a webhook for matching messages, without a shell.

    Each reactor of the config's `reactors:` section reads its producer's topics in its own
    consumer group, tests its `match:` conditions, maps the message's path by prefix (hostile
    paths are refused into the dead-letter index), gathers events for the same target over its
    `coalesce` window and runs its action once for them. Offsets are committed only after the
    action for every earlier matching message has finished (succeeded, or failed for good with
    a dead letter): at least once. SIGTERM/SIGINT: kill running actions, commit only what is
    finished, exit 0.

    \b
    Example (NextCloud scan-on-arrival):
      esbridge react -c examples/reactors/nextcloud-scan.yml --dry-run
    """
    config = read_config(config_path)
    reactors = _chosen(config, only)
    accounts = _accounts(reactors)
    setup_logging(log_level)
    stop = threading.Event()
    processes = Processes()

    def request_stop(signum: int, _frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    cluster = None if dry_run else connect_patiently(config.elasticsearch, config.ingest, stop)
    if cluster is None and not dry_run:  # stopped while waiting for the cluster: nothing read
        sys.exit(0)
    serving = Serving("react")
    try:
        loops = [
            _loop(config, reactor, accounts[reactor.name], processes, stop, cluster)
            for reactor in reactors
        ]

        def stop_actions() -> None:
            stop.set()
            processes.kill_all()

        react_metrics(serving.registry, lambda: {r.config.name: asdict(r.counts) for r in loops})
        serving.start(config.metrics, metrics_port, lambda: Health(True))
        code = run_loops(
            loops, stop, idle_exit=idle_exit, on_stop=stop_actions, shutdown_wait=shutdown_wait
        )
    finally:
        serving.close()
        if cluster is not None:
            cluster.close()
    sys.exit(code)


def _chosen(config: Config, only: tuple[str, ...]) -> list[ReactorConfig]:
    if not config.reactors:
        raise UsageError("the config has no reactors: section (see examples/reactors/)")
    names = [reactor.name for reactor in config.reactors]
    unknown = [name for name in only if name not in names]
    if unknown:
        raise UsageError(f"--reactor {unknown[0]}: not in the config (it has {', '.join(names)})")
    return [reactor for reactor in config.reactors if not only or reactor.name in only]


def _accounts(reactors: list[ReactorConfig]) -> dict[str, Account]:
    accounts = {}
    for reactor in reactors:
        command = reactor.action.command
        try:
            accounts[reactor.name] = Account() if command is None else resolve_account(command)
        except ValueError as exc:
            raise UsageError(f"reactor {reactor.name}: action.command.{exc}") from None
    return accounts


def _loop(
    config: Config,
    reactor: ReactorConfig,
    account: Account,
    processes: Processes,
    stop: threading.Event,
    cluster: SearchCluster | None,
) -> ReactorLoop:
    group = reactor.consumer_group(config.kafka.group_id)
    kafka = config.kafka.model_copy(
        update={
            "group_id": group if cluster is not None else f"{group}-dry-run",
            "client_id": f"{config.kafka.client_id}-react-{reactor.name}",
        }
    )
    sink = None
    if cluster is not None:
        sink = ClusterDeadLetters(cluster, reactor.deadletter_index)
        sink.ensure_index()

    return ReactorLoop(
        reactor,
        config.reactor_topics(reactor),
        open_source(kafka, POLL_RECORDS),
        perform_for(reactor, account, processes, stop),
        sink,
        echo=sys.stdout if cluster is None else None,
    )
