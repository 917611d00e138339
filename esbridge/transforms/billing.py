"""Billing records (dCache's own Kafka stream) -> `dcache-billing` documents.

One pass over the record: plain renames are one dict lookup, the keys that need work (date,
status, isWrite, protocolInfo, localEndpoint, subject, durations) get a helper each, and a key
dCache adds later lands under `billing.<snake_case>` instead of being lost. Values the index
types `ip` are validated here: a bad address goes to a keyword `*_raw` field, where it stays
searchable, and never reaches an `ip` field that would refuse it.
"""

from __future__ import annotations

import ipaddress
import re
from functools import lru_cache
from typing import Any, NamedTuple

from esbridge.transforms.base import Document, ParseContext, ParseError
from esbridge.transforms.timestamps import iso_duration_ms, parse_iso_timestamp

RENAMED = {
    "version": "version",
    "VERSION": "version",  # door records spell it in upper case
    "session": "session",
    "initiator": "initiator",
    "transaction": "transaction",
    "pnfsid": "pnfsid",
    "billingPath": "path",
    "transferPath": "transfer_path",
    "fileSize": "file_size",
    "filesize": "file_size",  # `hit` records spell it in lower case
    "transferSize": "transfer_size",
    "transferTime": "transfer_time_ms",
    "queuingTime": "queuing_time_ms",
    "storageInfo": "storage_info",
    "isP2p": "is_p2p",
    "meanReadBandwidth": "mean_read_bandwidth",
    "meanWriteBandwidth": "mean_write_bandwidth",
    "subject": "subject",
    "hsm": "hsm",
    "locations": "locations",
    "moverInfo": "mover",
}
DURATIONS = {
    "readIdle": "read_idle_ms",
    "readActive": "read_active_ms",
    "writeIdle": "write_idle_ms",
    "writeActive": "write_active_ms",
}
HANDLED = frozenset(
    {"date", "msgType", "cellName", "cellType", "cellDomain", "status", "isWrite"}
    | {"protocolInfo", "protocol", "localEndpoint"}
)
# billing.* names this module writes itself; an unknown key that snake_cases to one of them goes
# under billing.unmapped so that it can neither overwrite nor change the type of a mapped field.
TAKEN = frozenset(
    {*RENAMED.values(), *DURATIONS.values(), "status", "direction", "is_write", "protocol"}
    | {"local_endpoint", "fqan", "door_remove", "unmapped"}
)
CAMEL_HUMP = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")
PRIMARY = ",primary"
PRINCIPAL_FIELDS = {
    "UidPrincipal": "uid",
    "GidPrincipal": "gid",
    "UserNamePrincipal": "name",
    "FQANPrincipal": "fqan",
    "Origin": "origin",
}


def parse_billing(record: dict[str, Any], ctx: ParseContext) -> Document:
    """A billing record of any `msgType` -> its document (docs/fields.md, billing)."""
    for required in ("date", "msgType"):
        if record.get(required) is None:
            raise ParseError("missing_field", f"billing record has no {required!r}")
    try:
        return _document(record, ctx)
    except (AttributeError, TypeError, ValueError) as error:
        raise ParseError("parse_error", f"malformed billing record: {error}") from None


def _document(record: dict[str, Any], ctx: ParseContext) -> Document:
    billing = _billing_fields(record)
    msg_type = record["msgType"]
    event: dict[str, Any] = {"action": msg_type}
    doc: Document = {
        "@timestamp": parse_iso_timestamp(record["date"]),
        "event": event,
        "billing": billing,
    }
    dcache = _dcache_fields(record, ctx)
    if dcache:
        doc["dcache"] = dcache
    status = record.get("status")
    if status is not None:
        _add_status(event, billing, status)
    direction = record.get("isWrite")
    if direction is not None:
        billing["direction"] = direction
        billing["is_write"] = direction == "write"
    protocol = _protocol_fields(record)
    if protocol:
        billing["protocol"] = protocol
    endpoint = record.get("localEndpoint")
    if endpoint is not None:
        billing["local_endpoint"] = _endpoint_fields(endpoint)
    _add_identity(doc, billing, record.get("subject"), protocol.get("host"))
    if msg_type == "remove":
        billing["door_remove"] = record.get("cellType") == "door"
    return doc


def _add_status(event: dict[str, Any], billing: dict[str, Any], status: dict[str, Any]) -> None:
    """billing.status as sent; event.outcome from its code (0 is success, as in dCache)."""
    billing["status"] = status
    code = status.get("code")
    if code is not None:
        event["outcome"] = "success" if code == 0 else "failure"


def _billing_fields(record: dict[str, Any]) -> dict[str, Any]:
    """Every key that maps to billing.* by name alone: renames, durations and unknown keys."""
    billing: dict[str, Any] = {}
    for key, value in record.items():
        if value is None:
            continue
        name = RENAMED.get(key)
        if name is not None:
            billing[name] = value
            continue
        name = DURATIONS.get(key)
        if name is not None:
            billing[name] = iso_duration_ms(value)
        elif key not in HANDLED:
            name = snake_case(key)
            if name in TAKEN:
                billing.setdefault("unmapped", {})[name] = value
            else:
                billing[name] = value
    return billing


def _dcache_fields(record: dict[str, Any], ctx: ParseContext) -> dict[str, Any]:
    dcache: dict[str, Any] = {}
    if ctx.dcache_instance:
        dcache["instance"] = ctx.dcache_instance
    for key, name in (("cellDomain", "domain"), ("cellName", "cell"), ("cellType", "cell_type")):
        value = record.get(key)
        if value is not None:
            dcache[name] = value
    return dcache


def _protocol_fields(record: dict[str, Any]) -> dict[str, Any]:
    """`protocolInfo` as billing.protocol.*, plus the one-line `protocol` of `hit` records."""
    protocol: dict[str, Any] = {}
    summary = record.get("protocol")
    if summary is not None:
        protocol["info"] = summary
    info = record.get("protocolInfo")
    if not info:
        return protocol
    for key, value in info.items():
        if value is None or key in ("versionMajor", "versionMinor"):
            continue
        if key == "host":
            protocol["host" if valid_ip(value) else "host_raw"] = value
        elif key == "protocol":
            protocol["name"] = value
        else:
            protocol[snake_case(key)] = value
    major, minor = info.get("versionMajor"), info.get("versionMinor")
    if major is not None:
        protocol["version"] = f"{major}.{minor}" if minor is not None else str(major)
    return protocol


def _endpoint_fields(endpoint: str) -> dict[str, Any]:
    parts = split_endpoint(endpoint)
    if parts is None:
        return {"raw": endpoint}
    return {"ip": parts[0], "port": parts[1]}


class _Identity(NamedTuple):
    uid: str | None = None
    gid: str | None = None
    name: str | None = None
    fqan: str | None = None
    origin: str | None = None


def _add_identity(doc: Document, billing: dict[str, Any], subject: Any, host: Any) -> None:
    """user.*, group.id, billing.fqan and client.ip (`Origin[...]`, else the protocol host)."""
    who = _identity(tuple(subject)) if subject else _Identity()
    user: dict[str, str] = {}
    if who.uid is not None:
        user["id"] = who.uid
    if who.name is not None:
        user["name"] = who.name
    if user:
        doc["user"] = user
    if who.gid is not None:
        doc["group"] = {"id": who.gid}
    if who.fqan is not None:
        billing["fqan"] = who.fqan
    client_ip = who.origin if who.origin is not None else host
    if client_ip is not None:
        doc["client"] = {"ip": client_ip}


@lru_cache(maxsize=4096)
def _identity(subject: tuple[str, ...]) -> _Identity:
    """The principals that become ECS fields; cached because the same users come back."""
    found: dict[str, str] = {}
    for principal in subject:
        kind, _, rest = principal.partition("[")
        value = rest.removesuffix("]")
        if kind in ("GidPrincipal", "FQANPrincipal"):
            if not value.endswith(PRIMARY):
                continue
            value = value[: -len(PRIMARY)]
        elif kind == "Origin" and not valid_ip(value):
            continue
        field = PRINCIPAL_FIELDS.get(kind)
        if field is not None and field not in found:
            found[field] = value
    return _Identity(**found)


@lru_cache(maxsize=1024)
def snake_case(key: str) -> str:
    """`mappedUID` -> `mapped_uid`, `user-agent` -> `user_agent`; cached, keys recur."""
    return CAMEL_HUMP.sub("_", key).replace("-", "_").lower()


@lru_cache(maxsize=16384)
def _valid_ip_text(text: str) -> bool:
    if "%" in text:  # zone ids: `ipaddress` takes them, Elasticsearch's `ip` type does not
        return False
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def valid_ip(value: object) -> bool:
    """Whether Elasticsearch's `ip` type takes `value`; cached, as clients and pools recur."""
    return isinstance(value, str) and _valid_ip_text(value)


def split_endpoint(endpoint: str) -> tuple[str, int] | None:
    """`ip:port` or `[ipv6]:port` -> (ip, port); None unless both parts are valid."""
    if endpoint.startswith("["):
        host, separator, port = endpoint[1:].partition("]:")
    else:
        host, separator, port = endpoint.rpartition(":")
    if not (separator and port.isascii() and port.isdigit() and valid_ip(host)):
        return None
    number = int(port)
    return (host, number) if number <= 65535 else None
