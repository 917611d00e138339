"""dCache access-log lines (NetLogger `key=value`), as Filebeat ships them -> `dcache-access`.

The line is split by a single-pass tokenizer built on `str.find`, so hostile input costs linear
time; the key grammar lives in module constants because a Logstash pattern is generated from
the same definitions.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any
from urllib.parse import urlsplit

from esbridge.transforms.base import Document, ParseContext, ParseError
from esbridge.transforms.billing import split_endpoint
from esbridge.transforms.logs import file_stem, filebeat_timestamp, filebeat_value
from esbridge.transforms.timestamps import parse_iso_timestamp

KEY_PATTERN = r"[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+)*"
"""A key: dot-separated segments of letters, digits, `_` and `-` (`request.url`, `user-agent`)."""

ESCAPES = {'"': '"', "\\": "\\", "n": "\n", "r": "\r"}
"""Inside a double-quoted value, what follows a backslash -> the character it stands for
(dCache's NetLoggerBuilder escapes exactly these four)."""

OBJECT_KEYS = frozenset({"request", "response", "user", "socket", "error"})
"""Keys that are objects in the index (`request.url`, `response.code`, ...). A bare key of that
name (xrootd's `request=open`) goes to `access.<key>.value`: a string where the mapping has an
object would make Elasticsearch refuse the document."""

_INTEGER_KEYS = frozenset({"duration", "response.code"})
_KEY = re.compile(KEY_PATTERN)


def parse_access(record: dict[str, Any], ctx: ParseContext) -> Document:
    """A Filebeat event carrying one access-log line -> document (docs/fields.md, access)."""
    line = record.get("message")
    if line is None:
        raise ParseError("missing_field", "access event has no 'message'")
    try:
        return _document(record, split_access_line(line), ctx)
    except (AttributeError, TypeError, ValueError) as error:
        raise ParseError("parse_error", f"malformed access event: {error}") from None


def split_access_line(line: str) -> dict[str, str]:
    """`key=value key="quoted \\"value\\"" ...` -> {key: value}, escapes decoded, last key wins."""
    fields: dict[str, str] = {}
    position, end = 0, len(line)
    while position < end:
        if line[position] == " ":
            position += 1
            continue
        equals = line.find("=", position)
        key = line[position:equals] if equals >= 0 else line[position:]
        if equals < 0 or _KEY.fullmatch(key) is None:
            raise ParseError("parse_error", f"access line: {key[:80]!r} is not a key= token")
        if line.startswith('"', equals + 1):
            fields[key], position = _quoted_value(line, equals + 2, key)
        else:
            position = line.find(" ", equals + 1)
            if position < 0:
                position = end
            fields[key] = line[equals + 1 : position]
    return fields


def _quoted_value(line: str, start: int, key: str) -> tuple[str, int]:
    """The value of a quoted token opened just before `start`, and where its token ends."""
    parts: list[str] = []
    position = start
    quote = line.find('"', position)
    while quote >= 0:
        backslash = line.find("\\", position, quote)
        if backslash < 0:
            parts.append(line[position:quote])
            return "".join(parts), quote + 1
        parts.append(line[position:backslash])
        escaped = line[backslash + 1 : backslash + 2]
        parts.append(ESCAPES.get(escaped, "\\" + escaped))
        position = backslash + 2
        if position > quote:
            quote = line.find('"', position)
    raise ParseError("parse_error", f"access line: the quoted value of {key!r} never ends")


def _document(record: dict[str, Any], fields: dict[str, str], ctx: ParseContext) -> Document:
    level = fields.pop("level", None)
    action = fields.pop("event", None)
    doc: Document = {"@timestamp": _timestamp(fields.pop("ts", None), record)}
    if level:
        doc["log"] = {"level": level}
    if action:
        doc["event"] = {"action": action}
    doc["access"] = _access_tree(fields)
    _add_ecs_copies(doc, fields)
    _add_provenance(doc, record, ctx)
    return doc


def _add_provenance(doc: Document, record: dict[str, Any], ctx: ParseContext) -> None:
    """host.name from Filebeat, dcache.domain from the file name, dcache.instance from config."""
    host = filebeat_value(record, "host", "name")
    if host is not None:
        doc["host"] = {"name": host}
    dcache: dict[str, Any] = {}
    if ctx.dcache_instance:
        dcache["instance"] = ctx.dcache_instance
    domain = file_stem(filebeat_value(record, "log", "file", "path"), ".access")
    if domain:
        dcache["domain"] = domain
    if dcache:
        doc["dcache"] = dcache


def _timestamp(ts: str | None, record: dict[str, Any]) -> str:
    """The line's `ts=`; Filebeat's `@timestamp` when it is missing or unreadable."""
    if ts:
        try:
            return parse_iso_timestamp(ts)
        except ParseError:
            pass
    return filebeat_timestamp(record)


def _access_tree(fields: dict[str, str]) -> dict[str, Any]:
    """access.* as nested objects; a key both leaf and parent keeps its leaf value at `.value`."""
    tree: dict[str, Any] = {}
    for key, text in fields.items():
        value: str | int | None = _integer(text) if key in _INTEGER_KEYS else text
        if value is None:
            continue
        *parents, leaf = _key_path(key)
        node = tree
        for part in parents:
            child = node.get(part)
            if not isinstance(child, dict):
                child = node[part] = {} if child is None else {"value": child}
            node = child
        if isinstance(node.get(leaf), dict):
            node[leaf]["value"] = value
        else:
            node[leaf] = value
    return tree


@lru_cache(maxsize=1024)
def _key_path(key: str) -> tuple[str, ...]:
    """`user-agent` -> ("user_agent",), `request.url` -> ("request", "url")."""
    if key in OBJECT_KEYS:
        return (key, "value")
    return tuple(key.replace("-", "_").split("."))


def _add_ecs_copies(doc: Document, fields: dict[str, str]) -> None:
    """The ECS fields Kibana and other Elastic tools look for, copied from the access keys."""
    url = fields.get("request.url")
    if url:
        doc["url"] = {"full": url}
        path = _url_path(url)
        if path:
            doc["url"]["path"] = path
    method = fields.get("request.method")
    status = _integer(fields.get("response.code"))
    http: dict[str, Any] = {}
    if method:
        http["request"] = {"method": method}
    if status is not None:
        http["response"] = {"status_code": status}
    if http:
        doc["http"] = http
    remote = fields.get("socket.remote")
    endpoint = split_endpoint(remote) if remote else None
    if endpoint is not None:
        doc["source"] = {"ip": endpoint[0], "port": endpoint[1]}
    agent = fields.get("user-agent")
    if agent:
        doc["user_agent"] = {"original": agent}


def _url_path(url: str) -> str | None:
    try:
        return urlsplit(url).path or None
    except ValueError:  # e.g. an unbalanced `[` in the host part
        return None


def _integer(text: str | None) -> int | None:
    """Digits -> int; anything else None, so an integer field never receives a string."""
    if text and text.isascii() and text.isdigit():
        return int(text)
    return None
