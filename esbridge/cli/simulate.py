"""`esbridge simulate`: realistic synthetic dCache traffic onto the config's topics."""

from __future__ import annotations

import json
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import click

from esbridge.cli.durations import DURATION
from esbridge.cli.options import config_option, read_config
from esbridge.config import Config
from esbridge.ingest.kafka.settings import kafka_python_settings
from esbridge.simulate import run_simulation


def topics_by_kind(config: Config) -> dict[str, str]:
    """Each stream kind goes to the first topic of the producer that parses it."""
    topics: dict[str, str] = {}
    for producer in config.producers:
        topics.setdefault(producer.parser, producer.topics[0])
    return topics


@click.command()
@config_option
@click.option(
    "--rate",
    type=click.FloatRange(min=0),
    default=200.0,
    show_default=True,
    help="Messages per second; 0 sends as fast as the producer can.",
)
@click.option("--count", type=click.IntRange(min=1), default=10_000, show_default=True)
@click.option(
    "--incidents",
    is_flag=True,
    help="Inject pool incidents: disables and re-enables, restarts, DOWN pools, JVM faults.",
)
@click.option("--seed", type=int, default=0, show_default=True, help="Same seed, same traffic.")
@click.option(
    "--backdate",
    type=DURATION,
    help="Start simulated time this long ago (e.g. 1h), so `esbridge watch` finds incidents "
    "already past its notification delay.",
)
@click.option("--json", "as_json", is_flag=True, help="Print counts and incidents as JSON.")
def simulate(
    config_path: Path,
    rate: float,
    count: int,
    incidents: bool,
    seed: int,
    backdate: float | None,
    as_json: bool,
) -> None:
    """Synthetic dCache traffic onto the config's topics.

    Billing of every type, domain-log lines, access-log lines and pool snapshots of a
    simulated site, seeded so the same seed gives the same traffic.
    """
    config = read_config(config_path)
    topics = topics_by_kind(config)
    started = time.monotonic()

    def progress(sent: int) -> None:
        elapsed = max(time.monotonic() - started, 1e-9)
        print(f"simulate: sent {sent}/{count} ({sent / elapsed:.0f} msg/s)", file=sys.stderr)

    report = run_simulation(
        list(config.kafka.bootstrap),
        topics,
        rate or None,
        count,
        incidents=incidents,
        seed=seed,
        start=None if backdate is None else datetime.now(UTC) - timedelta(seconds=backdate),
        log_zone=str(config.log_timezone),
        producer_config=kafka_python_settings(config.kafka),  # what ingest connects with
        progress=progress,
    )
    if as_json:
        click.echo(json.dumps({
            "sent": report.sent.per_topic,
            "incidents": [
                {"kind": i.kind, "pool": i.pool, "time": i.time.isoformat(), "resolved": i.resolved}
                for i in report.incidents
            ],
        }, indent=2))  # fmt: skip
        return
    for topic, sent in sorted(report.sent.per_topic.items()):
        click.echo(f"{topic:<24} {sent:>9} messages")
    if incidents:
        click.echo(f"incidents injected: {len(report.incidents)}")
