"""`esbridge setup`: templates, ILM policies and write aliases, one set per producer."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import click

from esbridge.cli.options import config_option, read_config
from esbridge.cluster import make_client
from esbridge.setup.installer import detect_capabilities, install
from esbridge.setup.templates import render_resources


@click.command()
@config_option
@click.option("--dry-run", is_flag=True, help="Show what would change; change nothing.")
@click.option("--json", "as_json", is_flag=True, help="Print the changes as a JSON array.")
def setup(config_path: Path, dry_run: bool, as_json: bool) -> None:
    """Install index templates, ILM policies and write aliases.

    Renders index-templates/ for every producer of the config and installs what differs:
    idempotent, a second run changes nothing and says so.
    """
    config = read_config(config_path)
    es = make_client(config.elasticsearch)
    capabilities = detect_capabilities(es)
    resources = render_resources(
        config.producers,
        config.deadletter,
        ilm=capabilities.ilm,
        prefix=config.template_prefix,
        issues_index=config.watch.issues_index if config.watch is not None else None,
    )
    changes = install(es, resources, dry_run=dry_run)
    if as_json:
        click.echo(json.dumps([asdict(change) for change in changes], indent=2))
        return
    if not capabilities.ilm:
        click.echo(
            "warning: this Elasticsearch has no ILM; policies skipped, retention not enforced",
            err=True,
        )
    for change in changes:
        detail = f"  ({change.detail})" if change.detail else ""
        click.echo(f"{change.action:<9} {change.kind:<18} {change.name}{detail}")
    touched = sum(change.action in ("created", "updated") for change in changes)
    verb = "would change" if dry_run else "changed"
    click.echo(f"Elasticsearch {capabilities.version}: {verb} {touched} of {len(changes)}")
