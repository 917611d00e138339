"""`esbridge kibana`: render, load and export the shipped data views, dashboards and search."""

from __future__ import annotations

import json
import ssl
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from esbridge.kibana.client import Auth, KibanaClient
from esbridge.kibana.objects import render_objects, to_ndjson

F = TypeVar("F", bound=Callable[..., Any])


def _connection_options(function: F) -> F:
    options = [
        click.option("--url", required=True, help="Kibana's base URL, e.g. http://127.0.0.1:5601"),
        click.option("--space", default=None, help="Kibana space id (default: the default space)."),
        click.option("--user", default=None, help="Basic-auth user."),
        click.option(
            "--password",
            default=None,
            envvar="ESBRIDGE_KIBANA_PASSWORD",
            help="Basic-auth password (or ESBRIDGE_KIBANA_PASSWORD).",
        ),
        click.option(
            "--api-key",
            default=None,
            envvar="ESBRIDGE_KIBANA_API_KEY",
            help="Encoded API key (or ESBRIDGE_KIBANA_API_KEY); not with --user.",
        ),
        click.option(
            "--ca-certs",
            type=click.Path(exists=True, dir_okay=False),
            default=None,
            help="CA bundle for an https URL with a site-internal CA.",
        ),
    ]
    for option in reversed(options):
        function = option(function)
    return function


def _client(
    url: str,
    space: str | None,
    user: str | None,
    password: str | None,
    api_key: str | None,
    ca_certs: str | None,
) -> KibanaClient:
    if api_key and user:
        raise click.UsageError("use --user/--password or --api-key, not both")
    context = ssl.create_default_context(cafile=ca_certs) if ca_certs else None
    auth = Auth(username=user, password=password, api_key=api_key)
    return KibanaClient(url, space=space, auth=auth, ssl_context=context)


@click.group()
def kibana() -> None:
    """Data views, dashboards and the issues search for esbridge's indices."""


@kibana.command()
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, allow_dash=True, path_type=Path),
    default=Path("-"),
    show_default=True,
    help="Where to write the NDJSON; - for standard output (kibana/objects.ndjson in a checkout).",
)
def render(output: Path) -> None:
    """Write the objects generated from esbridge/kibana/spec.py as NDJSON."""
    text = to_ndjson(render_objects())
    if str(output) == "-":
        click.echo(text, nl=False)
        return
    output.write_text(text, encoding="utf-8")
    click.echo(f"wrote {output}", err=True)


@kibana.command()
@_connection_options
@click.option(
    "--file",
    "objects_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="NDJSON to import (default: the objects generated from the spec).",
)
@click.option("--overwrite", is_flag=True, help="Replace objects that already exist.")
@click.option("--dry-run", is_flag=True, help="List what would be imported; contact nothing.")
def load(
    url: str,
    space: str | None,
    user: str | None,
    password: str | None,
    api_key: str | None,
    ca_certs: str | None,
    objects_file: Path | None,
    overwrite: bool,
    dry_run: bool,
) -> None:
    """Import the objects through Kibana's saved-objects API and report each one.

    Ids are fixed, so a re-run with --overwrite replaces the same objects instead of copying
    them; without it, objects already present are reported as conflicts and left alone.
    """
    ndjson = (
        objects_file.read_text(encoding="utf-8") if objects_file else to_ndjson(render_objects())
    )
    objects = [json.loads(line) for line in ndjson.splitlines() if line.strip()]
    if dry_run:
        for obj in objects:
            click.echo(f"would import {obj['type']} {obj['id']}")
        return
    client = _client(url, space, user, password, api_key, ca_certs)
    version = client.version()
    results = client.import_objects(ndjson, overwrite=overwrite)
    click.echo(f"Kibana {version}: importing {len(objects)} objects")
    for result in results:
        state = "ok" if result.error is None else f"error: {result.error}"
        click.echo(f"{result.type} {result.id}: {state}")
    failed = [r for r in results if r.error is not None]
    if failed:
        hint = " (re-run with --overwrite to replace them)" if not overwrite else ""
        raise click.ClickException(f"{len(failed)} of {len(objects)} objects failed{hint}")
    click.echo(f"{len(results)} objects imported")


@kibana.command()
@_connection_options
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="Where to write the NDJSON (e.g. a file in the site's own repository).",
)
def export(
    url: str,
    space: str | None,
    user: str | None,
    password: str | None,
    api_key: str | None,
    ca_certs: str | None,
    output: Path,
) -> None:
    """Fetch esbridge's objects, as edited in Kibana, for version control.

    Lines are sorted by type and id, and Kibana's bookkeeping (update times, versions) is
    dropped, so two exports of unchanged objects are identical.
    """
    wanted = [(o["type"], o["id"]) for o in render_objects()]
    client = _client(url, space, user, password, api_key, ca_certs)
    client.version()
    text = client.export_objects(wanted)
    objects = [_without_bookkeeping(json.loads(line)) for line in text.splitlines() if line]
    objects.sort(key=lambda o: (o["type"], o["id"]))
    output.write_text(to_ndjson(objects), encoding="utf-8")
    click.echo(f"wrote {len(objects)} objects to {output}")


def _without_bookkeeping(obj: dict[str, Any]) -> dict[str, Any]:
    volatile = {"updated_at", "created_at", "updated_by", "created_by", "version"}
    return {key: value for key, value in obj.items() if key not in volatile}
