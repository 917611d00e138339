"""The `esbridge` command line."""

from __future__ import annotations

import click

from esbridge import __version__
from esbridge.cli.analyze import analyze
from esbridge.cli.archive import archive
from esbridge.cli.check import check
from esbridge.cli.ingest import ingest
from esbridge.cli.issues import issues
from esbridge.cli.kibana import kibana
from esbridge.cli.logsetup import LOG_FORMAT, log_format_option, setup_logging
from esbridge.cli.logstash import logstash
from esbridge.cli.maintain import maintain_command
from esbridge.cli.poll import poll
from esbridge.cli.react import react
from esbridge.cli.replay import replay
from esbridge.cli.setup import setup
from esbridge.cli.simulate import simulate
from esbridge.cli.stack import stack
from esbridge.cli.watch import watch
from esbridge.errors import EsbridgeError, UsageError


class _UsageShown(click.ClickException):
    """A `UsageError` as click prints it, with exit code 2 like click's own usage errors."""

    exit_code = 2


class _Main(click.Group):
    """Shows an `EsbridgeError` as one short message with its exit code, not a traceback."""

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except EsbridgeError as exc:
            if ctx.meta.get(DEBUG):
                raise
            shown = _UsageShown if isinstance(exc, UsageError) else click.ClickException
            raise shown(str(exc)) from None


DEBUG = "esbridge.debug"


def _debug(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    ctx.meta[DEBUG] = value


@click.group(
    cls=_Main,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@click.version_option(__version__, prog_name="esbridge")
@click.option(
    "--debug",
    is_flag=True,
    expose_value=False,
    callback=_debug,
    help="Show the traceback of an error instead of its one-line message.",
)
@log_format_option
def main() -> None:
    """esbridge: dCache monitoring streams from Kafka into Elasticsearch, watched and alerted on.

    \b
    Typical session:
      esbridge stack up                       # local Kafka + Elasticsearch on loopback
      esbridge setup -c examples/dcache.yml   # templates, ILM policies, write aliases
      esbridge ingest -c examples/dcache.yml  # Kafka topics -> per-producer indices
      esbridge watch -c examples/dcache.yml   # log signatures -> issues -> mail digests
      esbridge issues list -c examples/dcache.yml
      esbridge logstash render -o DIR         # the same parsing for sites on Logstash
    """
    if LOG_FORMAT in click.get_current_context().meta:  # chosen: every command logs so
        setup_logging("WARNING")  # the commands that log more set it up again with their level


main.add_command(stack)
main.add_command(setup)
main.add_command(maintain_command)
main.add_command(ingest)
main.add_command(simulate)
main.add_command(watch)
main.add_command(issues)
main.add_command(kibana)
main.add_command(logstash)
main.add_command(check)
main.add_command(react)
main.add_command(poll)
main.add_command(analyze)
main.add_command(archive)
main.add_command(replay)
