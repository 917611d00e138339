"""Log lines an operator can grep: UTC time, level, component, then key=value where it helps.

`--log-format json` (on `esbridge` itself or on a daemon command, or ESBRIDGE_LOG_FORMAT)
writes one JSON object per line instead, for Loki, journald's JSON export or Filebeat:
`time`, `level`, `logger`, `message`, and a line's own fields (the stats and summary keys) as
keys of their own.
"""

from __future__ import annotations

import logging
import sys
import time
from typing import Any

import click
import orjson

from esbridge.ingest.kafka.ratelimit import RepeatFilter

LOG_FORMAT = "esbridge.log_format"
"""Where `--log-format` keeps its choice: the click context's `meta`, shared by a group and
its commands."""

RESERVED = {"time", "level", "logger", "message"}


class JsonFormatter(logging.Formatter):
    """One JSON object per record; `extra={"fields": {...}}` adds keys (never over the four
    fixed ones)."""

    def format(self, record: logging.LogRecord) -> str:
        instant = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
        entry: dict[str, Any] = {
            "time": f"{instant}.{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            entry.update({k: v for k, v in fields.items() if k not in RESERVED})
        if record.exc_info:
            entry["traceback"] = self.formatException(record.exc_info)
        return orjson.dumps(entry, default=str).decode()


def _remember(ctx: click.Context, _param: click.Parameter, value: str | None) -> None:
    if value is not None:
        ctx.meta[LOG_FORMAT] = value.lower()


log_format_option = click.option(
    "--log-format",
    type=click.Choice(["text", "json"], case_sensitive=False),
    envvar="ESBRIDGE_LOG_FORMAT",
    expose_value=False,
    is_eager=True,
    callback=_remember,
    help="Log lines as text (default) or one JSON object per line [env ESBRIDGE_LOG_FORMAT].",
)


def chosen_format() -> str:
    ctx = click.get_current_context(silent=True)
    return "text" if ctx is None else str(ctx.meta.get(LOG_FORMAT, "text"))


def setup_logging(level: str = "INFO", log_format: str | None = None) -> None:
    handler = logging.StreamHandler(sys.stderr)
    if (log_format or chosen_format()) == "json":
        formatter: logging.Formatter = JsonFormatter()
    else:
        formatter = logging.Formatter(
            "%(asctime)s.%(msecs)03dZ %(levelname)s %(name)s: %(message)s", "%Y-%m-%dT%H:%M:%S"
        )
        formatter.converter = time.gmtime
    handler.setFormatter(formatter)
    handler.addFilter(RepeatFilter())  # a Kafka client's retries would flood the journal
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.WARNING)
    logging.getLogger("esbridge").setLevel(level.upper())
    logging.getLogger("kafka").setLevel(logging.ERROR)  # its event-loop timing notes are noise
