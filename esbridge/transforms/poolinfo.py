"""Pool snapshots (the site's poll of dCache's REST API, every 15 minutes) -> `dcache-poolinfo`.

The snapshot is the ground truth the log-derived pool state is checked against, so the mode is
split into flags exactly as a log line's would be.
"""

from __future__ import annotations

from typing import Any

from esbridge.transforms.base import Document, ParseContext, ParseError
from esbridge.transforms.logs import pool_mode_fields
from esbridge.transforms.timestamps import parse_iso_timestamp

RENAMED = {
    "poolgroups": "groups",
    "enabled": "enabled",
    "read_only": "read_only",
    "status_code": "status_code",
    "status_message": "status_message",
    "space": "space",
    "last_heartbeat": "last_heartbeat",
}


def parse_poolinfo(record: dict[str, Any], ctx: ParseContext) -> Document:
    """A pool snapshot -> document; keys other than those in docs/fields.md are not indexed."""
    for required in ("pool", "@timestamp"):
        if record.get(required) is None:
            raise ParseError("missing_field", f"pool snapshot has no {required!r}")
    try:
        return _document(record, ctx)
    except (AttributeError, TypeError, ValueError) as error:
        raise ParseError("parse_error", f"malformed pool snapshot: {error}") from None


def _document(record: dict[str, Any], ctx: ParseContext) -> Document:
    pool: dict[str, Any] = {"name": record["pool"]}
    mode = record.get("mode")
    if mode is not None:
        pool.update(pool_mode_fields(mode))
    for key, name in RENAMED.items():
        value = record.get(key)
        if value is not None:
            pool[name] = value
    dcache: dict[str, Any] = {"pool": pool}
    if ctx.dcache_instance:
        dcache["instance"] = ctx.dcache_instance
    doc: Document = {"@timestamp": parse_iso_timestamp(record["@timestamp"]), "dcache": dcache}
    host = record.get("host")
    if host is not None:
        doc["host"] = {"name": host}
    return doc
