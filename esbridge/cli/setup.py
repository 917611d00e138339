"""`esbridge setup`: templates, lifecycle policies and write aliases, one set per producer."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import click

from esbridge.cli.options import config_option, read_config
from esbridge.cluster.search import connect
from esbridge.setup.installer import install
from esbridge.setup.templates import Target, render_resources


@click.command()
@config_option
@click.option("--dry-run", is_flag=True, help="Show what would change; change nothing.")
@click.option("--json", "as_json", is_flag=True, help="Print the changes as a JSON array.")
def setup(config_path: Path, dry_run: bool, as_json: bool) -> None:
    """Install index templates, lifecycle policies (ILM or ISM) and write aliases.

    Renders index-templates/ for every producer of the config and the engine found at the URL
    (Elasticsearch 8/9, OpenSearch 2/3) and installs what differs: idempotent, a second run
    changes nothing and says so.
    """
    config = read_config(config_path)
    with connect(config.elasticsearch) as cluster:
        target = Target.of(cluster)
        resources = render_resources(
            config.producers,
            config.deadletter,
            target=target,
            prefix=config.template_prefix,
            issues_index=config.watch.issues_index if config.watch is not None else None,
        )
        changes = install(cluster, resources, dry_run=dry_run)
        label = cluster.flavour.label
    if as_json:
        click.echo(json.dumps([asdict(change) for change in changes], indent=2))
        return
    if target.lifecycle is None:
        module = "ILM" if target.distribution == "elasticsearch" else "ISM"
        click.echo(
            f"warning: {label} has no {module}; policies skipped: retention is not enforced "
            "unless `esbridge maintain` runs",
            err=True,
        )
    for change in changes:
        detail = f"  ({change.detail})" if change.detail else ""
        click.echo(f"{change.action:<9} {change.kind:<18} {change.name}{detail}")
    touched = sum(change.action in ("created", "updated") for change in changes)
    verb = "would change" if dry_run else "changed"
    click.echo(f"{label}: {verb} {touched} of {len(changes)}")
