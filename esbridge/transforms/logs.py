"""dCache domain log lines, as Filebeat ships them, -> `dcache-logs` documents.

A line that does not fit dCache's layout (JVM launcher output, a wrapper script) is kept whole
with `log.parsed: false` instead of being dead-lettered: it sits in the same file and can matter.
Pool-state lines also fill `dcache.pool.*`, which the watcher and the dashboards key on.

The patterns are module constants because a Logstash grok pattern is rendered from them.
"""

from __future__ import annotations

import re
from typing import Any

from esbridge.transforms.base import Document, ParseContext, ParseError
from esbridge.transforms.timestamps import parse_iso_timestamp, parse_log_timestamp

LOG_LINE_PATTERN = (
    r"(?P<day>\d{2}) (?P<month>Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sept?|Oct|Nov|Dec) "
    r"(?P<year>\d{4}) (?P<time>\d{2}:\d{2}:\d{2}) "
    r"\((?P<cell>[^)]*)\) \[(?P<ndc>[^\]]*)\] ?(?P<message>.*)"
)
"""`dd MMM yyyy HH:mm:ss (cell) [ndc] message`, one line (Java 16+ writes `Sept` in en_GB)."""

POOL_MODE_PREFIX = "Pool mode changed to "
"""PoolV4, about itself (the pool is the cell): `enabled` or `disabled(<flags>): <reason>`."""

POOL_MODE_ECHO_PATTERN = (
    r"Pool (?P<pool>\S+) changed from mode (?P<previous>\S+) +to (?P<mode>\S+)\."
)
"""PoolManager's echo of a mode change; dCache writes two spaces before `to`."""

POOL_DOWN_PATTERN = r"Pool (?P<pool>\S+) declared as DOWN: (?P<reason>.*?)\.?"

POOL_FAULT_PATTERN = (
    r"Pool: (?P<pool>[^,\s]+), fault occurred in [^:]*: (?P<reason>.*)\. "
    r"Pool (?:read-only|disabled|restart required): ?"
)
"""PoolV4's fault report; the mode change it causes is logged on a line of its own."""

_LOG_LINE = re.compile(LOG_LINE_PATTERN, re.ASCII)
_POOL_ECHO = re.compile(POOL_MODE_ECHO_PATTERN)
_POOL_NAMED = (re.compile(POOL_DOWN_PATTERN), re.compile(POOL_FAULT_PATTERN))


def parse_logs(record: dict[str, Any], ctx: ParseContext) -> Document:
    """A Filebeat event carrying a dCache log line (maybe with its stack trace) -> document."""
    text = record.get("message")
    if text is None:
        raise ParseError("missing_field", "log event has no 'message'")
    try:
        return _document(record, text, ctx)
    except (AttributeError, TypeError, ValueError) as error:
        raise ParseError("parse_error", f"malformed log event: {error}") from None


def _document(record: dict[str, Any], text: str, ctx: ParseContext) -> Document:
    first_line, newline, continuation = text.partition("\n")
    match = _LOG_LINE.fullmatch(first_line)
    log: dict[str, Any] = {"parsed": match is not None}
    doc: Document = {"log": log}
    _add_provenance(doc, log, record)
    dcache = _dcache_fields(record, ctx)
    if match is None:
        doc["@timestamp"] = filebeat_timestamp(record)
        doc["message"] = text
    else:
        doc["@timestamp"] = _line_timestamp(first_line[: match.end("time")], record, ctx)
        doc["message"] = match["message"]
        if newline:
            doc["error"] = {"stack_trace": continuation}
        _add_layout_fields(log, dcache, match)
    if dcache:
        doc["dcache"] = dcache
    return doc


def _add_layout_fields(log: dict[str, Any], dcache: dict[str, Any], match: re.Match[str]) -> None:
    """log.logger, log.ndc, dcache.cell and, on pool-state lines, dcache.pool."""
    cell, ndc = match["cell"], match["ndc"]
    if ndc:
        log["ndc"] = ndc
    if cell:
        log["logger"] = dcache["cell"] = cell
        pool = pool_state_fields(cell, match["message"])
        if pool:
            dcache["pool"] = pool


def _add_provenance(doc: Document, log: dict[str, Any], record: dict[str, Any]) -> None:
    """log.file.path, log.syslog.identifier and host.name, as Filebeat sent them."""
    path = filebeat_value(record, "log", "file", "path")
    if path is not None:
        log["file"] = {"path": path}
    identifier = filebeat_value(record, "syslog", "identifier")
    if identifier is not None:
        log["syslog"] = {"identifier": identifier}
    host = filebeat_value(record, "host", "name")
    if host is not None:
        doc["host"] = {"name": host}


def _dcache_fields(record: dict[str, Any], ctx: ParseContext) -> dict[str, Any]:
    """dcache.instance, and dcache.domain from the journald identifier, unit or file name."""
    dcache: dict[str, Any] = {}
    if ctx.dcache_instance:
        dcache["instance"] = ctx.dcache_instance
    domain = (
        _between(filebeat_value(record, "syslog", "identifier"), "dcache@", "")
        or _between(filebeat_value(record, "systemd", "unit"), "dcache@", ".service")
        or file_stem(filebeat_value(record, "log", "file", "path"), ".log")
    )
    if domain:
        dcache["domain"] = domain
    return dcache


def _line_timestamp(date: str, record: dict[str, Any], ctx: ParseContext) -> str:
    """The line's own date; Filebeat's when that is impossible (`31 Feb`, hour 25)."""
    try:
        return parse_log_timestamp(date, ctx.log_timezone)
    except ParseError:
        return filebeat_timestamp(record)


def pool_state_fields(cell: str, message: str) -> dict[str, Any] | None:
    """dcache.pool.* for a pool-state line, None for any other message."""
    if message.startswith(POOL_MODE_PREFIX):
        fields = pool_mode_fields(message[len(POOL_MODE_PREFIX) :])
        fields["name"] = cell
        return fields
    if not message.startswith("Pool"):
        return None
    match = _POOL_ECHO.fullmatch(message)
    if match is not None:
        fields = pool_mode_fields(match["mode"])
        fields["name"] = match["pool"]
        fields["previous_mode"] = match["previous"]
        return fields
    for pattern in _POOL_NAMED:
        match = pattern.fullmatch(message)
        if match is not None:
            return {"name": match["pool"], "reason": match["reason"]}
    return None


def pool_mode_fields(text: str) -> dict[str, Any]:
    """`enabled` or `disabled(<flags>)[: <reason>]` -> dcache.pool mode, flags and reason."""
    mode, _, reason = text.partition(": ")
    fields: dict[str, Any] = {"mode": mode}
    flags = _between(mode, "disabled(", ")")
    if flags:
        fields["flags"] = flags.split(",")
    if reason:
        fields["reason"] = reason
    return fields


def filebeat_value(event: dict[str, Any], *path: str) -> Any:
    """`event[a][b]...`, or None where the path stops; Filebeat nests ECS names as objects."""
    value: Any = event
    for key in path:
        if not isinstance(value, dict):
            return None
        value = value.get(key)
    return value


def filebeat_timestamp(event: dict[str, Any]) -> str:
    """Filebeat's `@timestamp` (when it read the line) for events without a usable own date."""
    value = event.get("@timestamp")
    if value is None:
        raise ParseError("bad_timestamp", "no usable date in the line and no Filebeat @timestamp")
    return parse_iso_timestamp(value)


def file_stem(path: Any, suffix: str) -> str | None:
    """`/var/log/dcache/<stem><suffix>` -> `<stem>`; None for any other file name."""
    if not isinstance(path, str):
        return None
    return _between(path.rpartition("/")[2], "", suffix)


def _between(value: Any, prefix: str, suffix: str) -> str | None:
    """What lies between `prefix` and `suffix` in `value`; None when it is not so framed."""
    if (
        isinstance(value, str)
        and len(value) > len(prefix) + len(suffix)
        and value.startswith(prefix)
        and value.endswith(suffix)
    ):
        return value[len(prefix) : len(value) - len(suffix)]
    return None
