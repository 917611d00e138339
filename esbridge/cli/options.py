"""Options and helpers shared by the commands that read a config."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import click

from esbridge.config import Config, ConfigError, load_config
from esbridge.errors import UsageError

config_option = click.option(
    "-c",
    "--config",
    "config_path",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="YAML config (start from examples/dcache.yml).",
)

log_level_option = click.option(
    "--log-level",
    default="INFO",
    show_default=True,
    type=click.Choice(["DEBUG", "INFO", "WARNING", "ERROR"], case_sensitive=False),
)

metrics_port_option = click.option(
    "--metrics-port",
    type=click.IntRange(0, 65535),
    help="Serve Prometheus /metrics and /healthz on this port (0: a free one, logged) on "
    "metrics.host [default: metrics.port plus the daemon's offset: watch 1, maintain 2, poll 3, "
    "react 4, archive 5; off when neither is set].",
)


def read_config(path: Path, environ: Mapping[str, str] | None = None) -> Config:
    """The config, or a clean CLI error listing every problem with its line."""
    try:
        return load_config(path, environ=environ)
    except ConfigError as exc:
        raise UsageError(f"invalid config:\n{exc}") from None
