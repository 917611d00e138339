"""`esbridge stack`: the local Kafka broker and search node (Elasticsearch or OpenSearch)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from esbridge.stack.engines import DEFAULT_ENGINE, engines
from esbridge.stack.manager import Stack, StackOptions

dir_option = click.option(
    "--dir",
    "directory",
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder for data, logs and pid files [default: ~/.cache/esbridge/stack].",
)


@click.group()
def stack() -> None:
    """Local Kafka + Elasticsearch (or OpenSearch) on loopback.

    A single-node Apache Kafka (KRaft) and search node, fetched once from Maven Central.
    """


@stack.command()
@dir_option
@click.option("--kafka-port", type=int, help="Kafka listener port; 0 picks a free one [9092].")
@click.option("--es-port", type=int, help="The search node's HTTP port; 0 picks a free one [9200].")
@click.option(
    "--engine",
    metavar="NAME[:VERSION]",
    help=f"Search engine: {', '.join(engines())}, each at the version engines.lock pins "
    f"unless :VERSION says otherwise [default: the stack's own, or {DEFAULT_ENGINE}].",
)
@click.option(
    "--secure",
    is_flag=True,
    help="Elasticsearch with TLS and the `elastic` user (not for OpenSearch's test zips).",
)
@click.option(
    "--kafka-sasl",
    is_flag=True,
    help="Also a Kafka SASL_PLAINTEXT listener (SCRAM-SHA-512, user esbridge) on a free port.",
)
@click.option(
    "--restart",
    is_flag=True,
    help="Restart a running stack (to apply new ports or options); without it a running "
    "stack is left alone.",
)
@click.option("--json", "as_json", is_flag=True, help="Print endpoints as JSON.")
def up(
    directory: Path | None,
    kafka_port: int | None,
    es_port: int | None,
    engine: str | None,
    secure: bool,
    kafka_sasl: bool,
    restart: bool,
    as_json: bool,
) -> None:
    """Start both servers; return when both are healthy.

    A stack that is already running is left as it is (its endpoints are printed) unless
    --restart is given; asked for another engine, it is left alone with an error.
    """
    options = StackOptions(directory, kafka_port, es_port, secure, kafka_sasl, restart, engine)
    stack = Stack(options)
    info = stack.up()
    if as_json:
        click.echo(json.dumps(info.to_dict(), indent=2))
        return
    if info.already_up:
        click.echo(f"the stack in {stack.directory} is already up (--restart restarts it)")
    kafka = info.kafka
    click.echo(f"kafka          {kafka.bootstrap}  (Apache Kafka {kafka.version})")
    if kafka.sasl_bootstrap:
        click.echo(
            f"               SASL_PLAINTEXT {kafka.sasl_bootstrap}  {kafka.sasl_mechanism}, "
            f"user {kafka.sasl_username}, password {kafka.sasl_password}"
        )
    es = info.elasticsearch
    product = engines()[es.engine].product
    click.echo(f"{es.distribution:<13}  {es.url}  ({product} {es.version})")
    if es.password:
        click.echo(f"               user elastic, password {es.password}, CA {es.ca}")
    click.echo(f"export ESBRIDGE_KAFKA_BOOTSTRAP={kafka.bootstrap} ESBRIDGE_ES_URL={es.url}")


@stack.command()
@dir_option
def down(directory: Path | None) -> None:
    """Stop both servers (data is kept)."""
    stopped = Stack(StackOptions(directory)).down()
    click.echo("stopped " + ", ".join(stopped) if stopped else "nothing was running")


@stack.command()
@dir_option
@click.option("--json", "as_json", is_flag=True, help="Print the status as JSON.")
def status(directory: Path | None, as_json: bool) -> None:
    """Show versions, ports, pids and health; exit 1 when a server is down."""
    report = Stack(StackOptions(directory)).status()
    kafka, es = report["kafka"], report["elasticsearch"]
    if as_json:
        click.echo(json.dumps(report, indent=2))
    elif kafka is None:
        click.echo(f"no stack in {report['directory']}")
    else:
        k_state = "healthy" if kafka["healthy"] else ("running" if kafka["pid"] else "stopped")
        click.echo(f"kafka          {kafka['bootstrap']}  {kafka['version']}  {k_state}")
        e_state = es["health"] or ("running" if es["pid"] else "stopped")
        click.echo(f"{es['distribution']:<13}  {es['url']}  {es['version']}  {e_state}")
    up_ok = kafka is not None and kafka["healthy"] and es["health"] in ("green", "yellow")
    sys.exit(0 if up_ok else 1)
