"""`esbridge check`: validate a config, and with a network, every endpoint it names."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from esbridge.check import Verdict, offline_verdicts, online_verdicts
from esbridge.cli.options import config_option, read_config


@click.command()
@config_option
@click.option(
    "--offline",
    is_flag=True,
    help="Only validate the config (keys, types, rules); contact no server.",
)
def check(config_path: Path, offline: bool) -> None:
    """Check a config before deploying it, one line per check (like `filebeat test output`).

    \b
    Offline: the YAML, every key and value, the watch rules.
    Online (the default) also: Kafka (metadata, each producer's topics), the search engine
    (reachable, credentials, engine and version), setup (write aliases, and templates and
    policies as this esbridge version installs them), the SMTP relay of notifications.
    Exit 0 when all pass, 1 when one fails, 2 when the config itself is invalid.
    """
    config = read_config(config_path)
    verdicts: list[Verdict] = []
    for verdict in (*offline_verdicts(config), *(() if offline else online_verdicts(config))):
        click.echo(verdict.line())
        verdicts.append(verdict)
    sys.exit(0 if all(v.ok for v in verdicts) else 1)
