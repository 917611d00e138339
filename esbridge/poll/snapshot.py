"""One entry of `GET /api/v1/pools` and its `GET /api/v1/pools/{pool}/usage` answer -> one flat
pool snapshot: the value of a `dcache-poolinfo` message, as `esbridge.transforms.poolinfo`
reads it and `esbridge simulate` writes it.

dCache's serialisers shape what is taken from where (docs/poll.md):

* Space comes from `poolData.detailsData.costData.space` (longs, bytes); where a key is absent,
  from `poolData.repositoryData`'s longs. Never from `repositoryData.totalDiskSpace`, which is
  a display string (`"30T"`, `"-"`).
* A missing key means *unknown*, never zero: servers before dCache 11.1 (and backports) leave
  out zero and false values, newer ones leave out nulls. So an absent key stays absent in the
  snapshot, and `missing` names the expected keys the answer did not give.
* `{}` (the frontend has not cached the pool yet) gives a snapshot of what the list says, with
  `cached: false`; a failed usage request gives the same with `usage_error`.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from esbridge.utc import format_utc

SPACE = ("total", "free", "precious", "removable", "gap")
"""`costData.space` keys taken, as `space_<key>`."""
REPOSITORY_SPACE = {
    "free": "freeDiskSpace",
    "precious": "preciousDiskSpace",
    "removable": "removableDiskSpace",
    "gap": "gap",
}
"""Where `repositoryData` holds the same figure, when `costData.space` lacks it."""
EXPECTED = (
    "domain",
    "mode",
    "repository_state",
    "space_total",
    "space_free",
    "space_precious",
    "space_removable",
    "space_used",
)
"""What a cached pool's snapshot should have; each one absent is named in `missing`."""


def flatten(
    entry: Mapping[str, Any],
    usage: Mapping[str, Any] | None,
    *,
    at: datetime,
    last_modified: datetime | None = None,
    usage_error: str | None = None,
) -> dict[str, Any]:
    """The snapshot of one pool: `entry` from the list, `usage` the decoded usage answer (None
    when its request failed, then `usage_error` says why), `at` the cycle's time."""
    snapshot: dict[str, Any] = {"@timestamp": format_utc(at), "pool": entry["name"]}
    data = _object(usage, "poolData") if usage is not None else {}
    cell = _object(data, "cellData")
    details = _object(data, "detailsData")
    repository = _object(data, "repositoryData")
    _put(snapshot, "domain", _text(cell, "domainName"))
    _put(snapshot, "groups", _names(entry, "groups") or _names(data, "poolGroups"))
    _put(snapshot, "links", _names(entry, "links") or _names(data, "links"))
    _put(snapshot, "host", host_of(details))
    mode = _text(details, "poolMode")
    if mode is not None:
        snapshot["mode"] = mode
        snapshot |= mode_flags(mode)
    _put(snapshot, "status_code", _long(details, "poolStatusCode"))
    _put(snapshot, "status_message", _text(details, "poolStatusMessage"))
    _put(snapshot, "repository_state", _text(repository, "state"))
    snapshot |= space_of(_object(_object(details, "costData"), "space"), repository)
    snapshot["cached"] = bool(data)
    if usage_error is not None:
        snapshot["usage_error"] = usage_error
    if data:
        missing = [key for key in EXPECTED if key not in snapshot]
        if missing:
            snapshot["missing"] = missing
    if last_modified is not None:
        snapshot["last_modified"] = format_utc(last_modified)
    return snapshot


def mode_flags(mode: str) -> dict[str, bool]:
    """`enabled`, `read_only` and `dead` from `PoolV2Mode.toString()`.

    `enabled` and `enabled,noresilience` are enabled; `disabled(<flags>)` lists what is
    disabled. Read-only is dCache's `DISABLED_RDONLY` and anything like it: writes refused
    (`store`), reads served (no `fetch`), not dead.
    """
    if mode.partition(",")[0] == "enabled":
        return {"enabled": True, "read_only": False, "dead": False}
    inside = mode.removeprefix("disabled(").removesuffix(")")
    flags = set(inside.split(",")) if inside else set()
    dead = "dead" in flags
    read_only = "store" in flags and "fetch" not in flags and not dead
    return {"enabled": False, "read_only": read_only, "dead": dead}


def space_of(space: Mapping[str, Any], repository: Mapping[str, Any]) -> dict[str, int]:
    """`space_*` in bytes; `space_used` is total - free (as dCache computes it), else the
    repository's own `usedDiskSpace`."""
    found: dict[str, int] = {}
    for key in SPACE:
        value = _long(space, key)
        if value is None and key in REPOSITORY_SPACE:
            value = _long(repository, REPOSITORY_SPACE[key])
        if value is not None:
            found[f"space_{key}"] = value
    repository_used = _long(repository, "usedDiskSpace")
    if "space_total" not in found and "space_free" in found and repository_used is not None:
        found["space_total"] = repository_used + found["space_free"]
    if "space_total" in found and "space_free" in found:
        found["space_used"] = found["space_total"] - found["space_free"]
    elif repository_used is not None:
        found["space_used"] = repository_used
    return dict(sorted(found.items()))


def host_of(details: Mapping[str, Any]) -> str | None:
    """The pool's host: its `hostname` tag, else the first of its addresses that is a name
    (Jackson writes an `InetAddress` as its host name when it has one), else the first
    address that is not loopback."""
    tags = _object(details, "tagMap")
    tagged = _text(tags, "hostname")
    if tagged:
        return tagged
    addresses = [a for a in details.get("inetAddresses") or () if isinstance(a, str) and a]
    literal: list[str] = []
    for address in addresses:
        try:
            ip = ipaddress.ip_address(address.split("%", 1)[0])
        except ValueError:
            return address
        if not ip.is_loopback:
            literal.append(address)
    return literal[0] if literal else None


def _object(parent: Mapping[str, Any] | None, key: str) -> Mapping[str, Any]:
    value = parent.get(key) if parent is not None else None
    return value if isinstance(value, Mapping) else {}


def _text(parent: Mapping[str, Any], key: str) -> str | None:
    value = parent.get(key)
    return value if isinstance(value, str) else None


def _long(parent: Mapping[str, Any], key: str) -> int | None:
    value = parent.get(key)
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _names(parent: Mapping[str, Any], key: str) -> list[str]:
    value = parent.get(key)
    if not isinstance(value, list):
        return []
    return [name for name in value if isinstance(name, str)]


def _put(snapshot: dict[str, Any], key: str, value: Any) -> None:
    if value is not None and value != []:
        snapshot[key] = value
