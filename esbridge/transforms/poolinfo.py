"""Pool snapshots (`esbridge poll`'s messages, one per pool and cycle) -> `dcache-poolinfo`.

The snapshot is flat (esbridge/poll/snapshot.py writes it, docs/fields.md lists it); the
document nests it under `dcache.pool`. The snapshot is the ground truth the log-derived pool
state is checked against, so the mode is split into flags exactly as a log line's would be.
"""

from __future__ import annotations

from typing import Any

from esbridge.transforms.base import Document, ParseContext, ParseError
from esbridge.transforms.logs import pool_mode_fields
from esbridge.transforms.timestamps import parse_iso_timestamp

RENAMED = {
    "groups": "groups",
    "links": "links",
    "enabled": "enabled",
    "read_only": "read_only",
    "dead": "dead",
    "status_code": "status_code",
    "status_message": "status_message",
    "repository_state": "repository_state",
    "space_total": "space.total",
    "space_free": "space.free",
    "space_precious": "space.precious",
    "space_removable": "space.removable",
    "space_used": "space.used",
    "space_gap": "space.gap",
    "cached": "cached",
    "usage_error": "usage_error",
    "missing": "missing",
    "last_modified": "last_modified",
}
"""Snapshot key -> field under `dcache.pool` (a dot nests), moved as they are."""


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
            *parents, leaf = name.split(".")
            target = pool
            for parent in parents:
                target = target.setdefault(parent, {})
            target[leaf] = value
    dcache: dict[str, Any] = {"pool": pool}
    domain = record.get("domain")
    if domain is not None:
        dcache["domain"] = domain
    if ctx.dcache_instance:
        dcache["instance"] = ctx.dcache_instance
    doc: Document = {"@timestamp": parse_iso_timestamp(record["@timestamp"]), "dcache": dcache}
    host = record.get("host")
    if host is not None:
        doc["host"] = {"name": host}
    return doc
