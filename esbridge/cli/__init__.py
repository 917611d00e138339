"""The `esbridge` command line."""

from __future__ import annotations

import click

from esbridge import __version__
from esbridge.cli.ingest import ingest
from esbridge.cli.issues import issues
from esbridge.cli.kibana import kibana
from esbridge.cli.setup import setup
from esbridge.cli.simulate import simulate
from esbridge.cli.stack import stack
from esbridge.cli.watch import watch


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="esbridge")
def main() -> None:
    """esbridge: dCache monitoring streams from Kafka into Elasticsearch, watched and alerted on.

    \b
    Typical session:
      esbridge stack up                       # local Kafka + Elasticsearch on loopback
      esbridge setup -c examples/dcache.yml   # templates, ILM policies, write aliases
      esbridge ingest -c examples/dcache.yml  # Kafka topics -> per-producer indices
      esbridge watch -c examples/dcache.yml   # log signatures -> issues -> mail digests
      esbridge issues list -c examples/dcache.yml
    """


main.add_command(stack)
main.add_command(setup)
main.add_command(ingest)
main.add_command(simulate)
main.add_command(watch)
main.add_command(issues)
main.add_command(kibana)
