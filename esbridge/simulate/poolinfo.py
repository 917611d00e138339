"""Pool snapshots as `esbridge poll` publishes them, one per pool every 15 minutes.

The simulator makes what dCache's frontend would answer (a `GET /api/v1/pools` entry and a
`/usage` answer, in the new-server shape) and flattens it with the poller's own
`esbridge.poll.snapshot.flatten`, so simulated and real snapshots cannot drift apart.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from typing import Any

import orjson

from esbridge.poll.snapshot import flatten
from esbridge.simulate.incidents import DEAD, PoolStates
from esbridge.simulate.site import GiB, Pool, SiteModel

POLL_INTERVAL = 900.0
FAULT_CODE = 99
"""PoolV4's status code for a pool it disabled itself (a fault)."""
DEAD_CODE = 666
"""PoolV4's status code for a dead pool (shutdown, restart required)."""


class PoolinfoGenerator:
    """One snapshot per pool and poll; modes follow the incidents, space drifts slowly."""

    def __init__(self, site: SiteModel, rng: random.Random, states: PoolStates) -> None:
        self._site = site
        self._rng = rng
        self._states = states
        self._free = {p.name: rng.uniform(0.1, 0.5) for p in site.pools}

    def messages(self, polls: Iterable[float]) -> Iterator[tuple[float, bytes]]:
        for t in polls:
            for pool in self._site.pools:
                yield t, self._snapshot(t, pool)

    def _snapshot(self, t: float, pool: Pool) -> bytes:
        entry = {
            "name": pool.name,
            "groups": list(pool.groups),
            "links": [f"{pool.groups[0]}-link"],
        }
        at = datetime.fromtimestamp(t, UTC)
        return orjson.dumps(flatten(entry, self._usage(t, pool), at=at))

    def _usage(self, t: float, pool: Pool) -> dict[str, Any]:
        """`GET /api/v1/pools/{pool}/usage` of `pool` at `t`, as a current frontend writes it."""
        rng = self._rng
        name = pool.name
        free_share = min(0.9, max(0.02, self._free[name] + rng.gauss(0.0, 0.01)))
        self._free[name] = free_share
        free = int(pool.total * free_share)
        used = pool.total - free
        precious = int(used * rng.uniform(0.05, 0.3)) if pool.hsm else 0
        removable = int((used - precious) * rng.uniform(0.5, 0.95))
        details: dict[str, Any] = {
            "label": "Pool Details",
            "poolMode": "enabled",
            "inetAddresses": [pool.host, pool.ip],
            "tagMap": {"hostname": pool.host},
            "costData": {
                "label": "Cost Data",
                "space": {
                    "total": pool.total,
                    "free": free,
                    "precious": precious,
                    "removable": removable,
                    "gap": 4 * GiB,
                    "lru": 0,
                    "breakEven": 0.7,
                },
            },
        }
        repository_state = "OPEN"
        state = self._states.mode_at(name, t)
        if state is not None:
            mode, reason, _since = state
            code = DEAD_CODE if mode == DEAD else FAULT_CODE
            details |= {"poolMode": mode, "poolStatusCode": code, "poolStatusMessage": reason}
            if "loading" in mode:
                repository_state = "LOADING"
        return {
            "poolData": {
                "poolGroups": list(pool.groups),
                "cellData": {"cellName": name, "domainName": pool.domain, "cellType": "Generic"},
                "detailsData": details,
                "repositoryData": {
                    "label": "Repository",
                    "state": repository_state,
                    "totalDiskSpace": _display(pool.total),
                    "freeDiskSpace": free,
                    "usedDiskSpace": used,
                    "preciousDiskSpace": precious,
                    "removableDiskSpace": removable,
                },
            }
        }


def _display(size: int) -> str:
    """`DiskSpace.toUnitString()`: the display string a parser must never read as a number."""
    for unit, factor in (("P", 1 << 50), ("T", 1 << 40), ("G", 1 << 30), ("M", 1 << 20)):
        if size >= factor:
            return f"{size // factor}{unit}"
    return str(size)
