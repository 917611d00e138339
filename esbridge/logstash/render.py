"""Renders the Logstash pipelines in pipelines/logstash/ from the parsers' own definitions.

Sites on Logstash get the same grammar and field tables as esbridge's Python parsers because
both come from the same constants: LOG_LINE_PATTERN and KEY_PATTERN for the log topics, the
rename, duration and principal tables of billing.py and poolinfo.py for the others. Regexes
only change syntax: Python's `(?P<name>` becomes Oniguruma's `(?<name>` plus anchors (Python
uses `fullmatch`, grok and Ruby search). tests/unit/test_logstash.py checks the translation,
that each table reaches the pipeline unchanged, and that the committed files are fresh.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from esbridge.config import Config, ProducerConfig
from esbridge.resources import LOGSTASH_TEMPLATES, jinja_environment
from esbridge.transforms import billing, poolinfo, timestamps
from esbridge.transforms.access import KEY_PATTERN
from esbridge.transforms.logs import LOG_LINE_PATTERN

PIPELINES = ("kafka-to-es.conf", "access-to-kafka.conf")
RECORD = "[@metadata][record]"
"""Where billing and poolinfo records are decoded: never indexed, so a key is written only once
a table has moved it to its field."""

_QUOTED_OR_BARE = r'(?:"(?:[^"\\]|\\.)*"|[^ ]*)'

# What billing.py spells out inside functions rather than in module tables; each is checked
# against parse_billing's output by the tests.
BILLING_MOVES = {
    "msgType": "event.action",
    "cellDomain": "dcache.domain",
    "cellName": "dcache.cell",
    "cellType": "dcache.cell_type",
    "status": "billing.status",
    "isWrite": "billing.direction",
}
IDENTITY_FIELDS = {
    "uid": "user.id",
    "name": "user.name",
    "gid": "group.id",
    "fqan": "billing.fqan",
    "origin": "client.ip",
}
"""billing.PRINCIPAL_FIELDS names -> document fields."""
PRIMARY_ONLY = ("GidPrincipal", "FQANPrincipal")
"""Principals that count only when marked `,primary`."""
POOLINFO_MOVES = {
    "pool": "dcache.pool.name",
    "mode": "dcache.pool.mode",
    "host": "host.name",
    "domain": "dcache.domain",
}


def grok_regex(python_pattern: str) -> str:
    """A Python pattern meant for `fullmatch` as an anchored Oniguruma regex."""
    return "^" + python_pattern.replace("(?P<", "(?<") + "$"


def ruby_regex(python_pattern: str, *, whole: bool = False) -> str:
    """A Python pattern as Ruby source text; `whole` anchors it as `fullmatch` does."""
    translated = python_pattern.replace("(?P<", "(?<")
    return rf"\A(?:{translated})\z" if whole else translated


def access_line_regex() -> str:
    """The shape `split_access_line` accepts: `key=value` tokens, values bare or quoted.

    Tokens must be space-separated (each token has one way to match, so a rejected line costs
    linear time); the parser also takes a quoted value glued to the next key, which dCache
    never writes."""
    return rf"^ *(?:{KEY_PATTERN}={_QUOTED_OR_BARE}(?: +|$))*$"


def field_ref(dotted: str) -> str:
    """`a.b` as the Logstash field reference `[a][b]`."""
    return "".join(f"[{part}]" for part in dotted.split("."))


def record_ref(key: str) -> str:
    """A key of a decoded billing or poolinfo record (`a.b` reaches into objects)."""
    return RECORD + field_ref(key)


def billing_renames() -> dict[str, str]:
    """Record key -> field for every billing key that only changes place; durations move too
    and are then converted in place."""
    tables = billing.RENAMED | billing.DURATIONS
    moved = BILLING_MOVES | {key: f"billing.{name}" for key, name in tables.items()}
    return {key: field_ref(target) for key, target in moved.items()}


def poolinfo_renames() -> dict[str, str]:
    """Record key -> field for every poolinfo key that is indexed; the others stay behind."""
    moved = POOLINFO_MOVES | {key: f"dcache.pool.{name}" for key, name in poolinfo.RENAMED.items()}
    return {key: field_ref(target) for key, target in moved.items()}


def billing_tables() -> dict[str, Any]:
    """What the billing branch's Ruby code needs from billing.py and timestamps.py."""
    principals = billing.PRINCIPAL_FIELDS.items()
    return {
        "durations": [field_ref(f"billing.{name}") for name in billing.DURATIONS.values()],
        "duration_regex": ruby_regex(timestamps.DURATION_PATTERN.pattern, whole=True),
        "camel_hump_regex": ruby_regex(billing.CAMEL_HUMP.pattern),
        "handled": sorted(billing.HANDLED),
        "taken": sorted(billing.TAKEN),
        "principals": {kind: field_ref(IDENTITY_FIELDS[name]) for kind, name in principals},
        "primary_only": list(PRIMARY_ONLY),
        "primary": billing.PRIMARY,
    }


def render_pipelines(config: Config) -> dict[str, str]:
    """File name -> text, with topics, indices and caps taken from `config`."""
    environment = jinja_environment(LOGSTASH_TEMPLATES)
    environment.filters["quoted"] = _logstash_string
    environment.filters["ruby"] = ruby_literal
    environment.filters["field_ref"] = field_ref
    environment.filters["record_ref"] = record_ref
    context = {
        "producers": config.producers,
        "record": RECORD,
        "access": _producer(config, "access"),
        "topics": [topic for producer in config.producers for topic in producer.topics],
        "dcache_instance": config.dcache_instance,
        "deadletter_index": config.deadletter.index,
        "payload_max_bytes": config.deadletter.payload_max_bytes,
        "original_max_bytes": config.ingest.original_max_bytes,
        "log_line_regex": grok_regex(LOG_LINE_PATTERN),
        "access_line_regex": access_line_regex(),
        "billing_renames": billing_renames(),
        "billing": billing_tables(),
        "poolinfo_renames": poolinfo_renames(),
    }
    return {name: environment.get_template(f"{name}.j2").render(context) for name in PIPELINES}


def _producer(config: Config, parser: str) -> ProducerConfig:
    return next(p for p in config.producers if p.parser == parser)


def _logstash_string(text: str) -> str:
    """`text` quoted for Logstash, whose strings keep backslashes as written (no escapes by
    default): in whichever quote it does not contain."""
    for quote in ('"', "'"):
        if quote not in text:
            return quote + text + quote
    raise ValueError(f"cannot quote for Logstash: {text!r}")


def ruby_literal(value: str | Iterable[str] | Mapping[str, str]) -> str:
    """Strings, lists and string maps as Ruby literals, for code inside a single-quoted Logstash
    string: double-quoted, `#` escaped (no interpolation), and never a `'`."""
    if isinstance(value, str):
        if "'" in value:
            raise ValueError(f"a ' would end the Logstash string: {value!r}")
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"').replace("#", "\\#") + '"'
    if isinstance(value, Mapping):
        pairs = (f"{ruby_literal(k)} => {ruby_literal(v)}" for k, v in value.items())
        return "{" + ", ".join(pairs) + "}"
    return "[" + ", ".join(ruby_literal(item) for item in value) + "]"
