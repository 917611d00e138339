"""Renders the Logstash pipelines in pipelines/logstash/ from the parsers' own patterns.

Sites on Logstash get the same line layout and key grammar as esbridge's Python parsers
because both come from LOG_LINE_PATTERN and KEY_PATTERN: the only translation is Python's
`(?P<name>` to Oniguruma's `(?<name>` plus anchors (Python uses `fullmatch`, grok searches).
tests/unit/test_logstash.py checks the translation and that the committed files are fresh.
"""

from __future__ import annotations

from pathlib import Path

import jinja2
import yaml

from esbridge.transforms.access import KEY_PATTERN
from esbridge.transforms.logs import LOG_LINE_PATTERN

LOGSTASH_DIR = Path(__file__).resolve().parent.parent / "pipelines" / "logstash"
EXAMPLE_CONFIG = LOGSTASH_DIR.parent.parent / "examples" / "dcache.yml"
PIPELINES = ("kafka-to-es.conf", "access-to-kafka.conf")

_QUOTED_OR_BARE = r'(?:"(?:[^"\\]|\\.)*"|[^ ]*)'


def grok_regex(python_pattern: str) -> str:
    """A Python pattern meant for `fullmatch` as an anchored Oniguruma regex."""
    return "^" + python_pattern.replace("(?P<", "(?<") + "$"


def access_line_regex() -> str:
    """The shape `split_access_line` accepts: `key=value` tokens, values bare or quoted.

    Tokens must be space-separated (each token has one way to match, so a rejected line costs
    linear time); the parser also takes a quoted value glued to the next key, which dCache
    never writes."""
    return rf"^ *(?:{KEY_PATTERN}={_QUOTED_OR_BARE}(?: +|$))*$"


def render_pipelines(example: Path = EXAMPLE_CONFIG) -> dict[str, str]:
    """File name -> text, with topics and indices taken from the example config."""
    config = yaml.safe_load(example.read_text(encoding="utf-8"))
    producers = {p["parser"]: p for p in config["producers"] if p["parser"] in ("logs", "access")}
    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(LOGSTASH_DIR / "templates"),
        undefined=jinja2.StrictUndefined,
        autoescape=False,  # noqa: S701 - the output is Logstash config, never HTML
        keep_trailing_newline=True,
    )
    environment.filters["quoted"] = _logstash_string
    context = {
        "logs": producers["logs"],
        "access": producers["access"],
        "deadletter_index": config["deadletter"]["index"],
        "log_line_regex": grok_regex(LOG_LINE_PATTERN),
        "access_line_regex": access_line_regex(),
    }
    return {name: environment.get_template(f"{name}.j2").render(context) for name in PIPELINES}


def _logstash_string(text: str) -> str:
    """`text` quoted for Logstash, whose strings keep backslashes as written (no escapes by
    default): in whichever quote it does not contain."""
    for quote in ('"', "'"):
        if quote not in text:
            return quote + text + quote
    raise ValueError(f"cannot quote for Logstash: {text!r}")


def write_pipelines() -> list[Path]:
    """Regenerate the committed pipeline files."""
    written = []
    for name, text in render_pipelines().items():
        path = LOGSTASH_DIR / name
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written
