"""`esbridge logstash render`: the Logstash pipelines for sites that run Logstash, not ingest."""

from __future__ import annotations

from pathlib import Path

import click

from esbridge.cli.options import read_config
from esbridge.logstash.render import render_pipelines
from esbridge.resources import example_config


@click.group()
def logstash() -> None:
    """Logstash pipelines with the same grammar and field tables as esbridge's parsers."""


@logstash.command()
@click.option(
    "-c",
    "--config",
    "config_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Topics, indices and caps from this config (default: the shipped examples/dcache.yml, "
    "read without the environment, as the committed pipelines/logstash/ files are).",
)
@click.option(
    "-o",
    "--output",
    "output_dir",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder to write the pipeline files into (created if missing).",
)
def render(config_path: Path | None, output_dir: Path) -> None:
    """Write kafka-to-es.conf and access-to-kafka.conf."""
    if config_path is None:
        with example_config() as example:
            config = read_config(example, environ={})
    else:
        config = read_config(config_path)
    output_dir.mkdir(parents=True, exist_ok=True)
    for name, text in render_pipelines(config).items():
        (output_dir / name).write_text(text, encoding="utf-8")
        click.echo(f"wrote {output_dir / name}")
