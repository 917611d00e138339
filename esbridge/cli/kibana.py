"""`esbridge kibana`: render, load and export the shipped data views, dashboards and search,
for Kibana or OpenSearch Dashboards (whichever answers at --url)."""

from __future__ import annotations

import json
import ssl
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from esbridge.cli.options import read_config
from esbridge.kibana.client import Auth, KibanaClient
from esbridge.kibana.configured import spec_for
from esbridge.kibana.objects import FLAVOURS, Flavour, render_objects, to_ndjson
from esbridge.kibana.spec import SPEC, Spec

F = TypeVar("F", bound=Callable[..., Any])


def _connection_options(function: F) -> F:
    options = [
        click.option(
            "--url",
            required=True,
            help="Base URL of Kibana or OpenSearch Dashboards, e.g. http://127.0.0.1:5601",
        ),
        click.option(
            "--space",
            default=None,
            help="Kibana space id (default: the default space); OpenSearch Dashboards has none.",
        ),
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


_config_option = click.option(
    "-c",
    "--config",
    "config_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Objects for this config's index names and template_prefix (default: those of "
    "examples/dcache.yml).",
)


@click.group()
def kibana() -> None:
    """Data views, dashboards and the issues search for esbridge's indices, for Kibana or
    OpenSearch Dashboards."""


@kibana.command()
@click.option(
    "--flavour",
    type=click.Choice(FLAVOURS),
    default="kibana",
    show_default=True,
    help="Kibana 8.x/9.x objects, or OpenSearch Dashboards 2.x/3.x objects.",
)
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, allow_dash=True, path_type=Path),
    default=Path("-"),
    show_default=True,
    help="Where to write the NDJSON; - for standard output (in a checkout: "
    "kibana/objects.ndjson, kibana/objects-opensearch-dashboards.ndjson).",
)
@_config_option
def render(flavour: Flavour, output: Path, config_path: Path | None) -> None:
    """Write the objects generated from esbridge/kibana/spec.py as NDJSON.

    With -c, over the config's own index names, templates and an id prefix of its own
    (`template_prefix`), so two configs can share one Kibana.
    """
    text = to_ndjson(render_objects(_spec(config_path), flavour=flavour))
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
    help="NDJSON to import as it is (default: the objects generated from the spec for the "
    "product that answers).",
)
@_config_option
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
    config_path: Path | None,
    overwrite: bool,
    dry_run: bool,
) -> None:
    """Import the objects through the saved-objects API and report each one.

    GET /api/status tells Kibana from OpenSearch Dashboards; each gets its own bundle (the two
    hold the same objects under the same ids) and its own anti-CSRF header. Ids are fixed, so
    a re-run with --overwrite replaces the same objects instead of copying them; without it,
    objects already present are reported as conflicts and left alone.
    """
    spec = _spec(config_path)
    if dry_run:
        ndjson = _objects_text(objects_file, "kibana", spec)  # either bundle: the same ids
        for obj in _parse(ndjson):
            click.echo(f"would import {obj['type']} {obj['id']}")
        return
    client = _client(url, space, user, password, api_key, ca_certs)
    product = client.product()
    ndjson = _objects_text(objects_file, product.flavour, spec)
    objects = _parse(ndjson)
    results = client.import_objects(ndjson, overwrite=overwrite)
    click.echo(f"{product.name} {product.version}: importing {len(objects)} objects")
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
@_config_option
def export(
    url: str,
    space: str | None,
    user: str | None,
    password: str | None,
    api_key: str | None,
    ca_certs: str | None,
    output: Path,
    config_path: Path | None,
) -> None:
    """Fetch esbridge's objects, as edited in Kibana or OpenSearch Dashboards, for version
    control.

    Lines are sorted by type and id, and the server's bookkeeping (update times, versions) is
    dropped, so two exports of unchanged objects are identical.
    """
    spec = _spec(config_path)
    client = _client(url, space, user, password, api_key, ca_certs)
    flavour = client.product().flavour
    wanted = [(o["type"], o["id"]) for o in render_objects(spec, flavour=flavour)]
    text = client.export_objects(wanted)
    objects = [_without_bookkeeping(json.loads(line)) for line in text.splitlines() if line]
    objects.sort(key=lambda o: (o["type"], o["id"]))
    output.write_text(to_ndjson(objects), encoding="utf-8")
    click.echo(f"wrote {len(objects)} objects to {output}")


def _objects_text(objects_file: Path | None, flavour: Flavour, spec: Spec) -> str:
    if objects_file is not None:
        return objects_file.read_text(encoding="utf-8")
    return to_ndjson(render_objects(spec, flavour=flavour))


def _spec(config_path: Path | None) -> Spec:
    return SPEC if config_path is None else spec_for(read_config(config_path))


def _parse(ndjson: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in ndjson.splitlines() if line.strip()]


def _without_bookkeeping(obj: dict[str, Any]) -> dict[str, Any]:
    volatile = {"updated_at", "created_at", "updated_by", "created_by", "version"}
    return {key: value for key, value in obj.items() if key not in volatile}
