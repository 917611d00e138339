"""Pool snapshots as the site's poller writes them from dCache's REST API every 15 minutes."""

from __future__ import annotations

import random
from collections.abc import Iterable, Iterator
from typing import Any

import orjson

from esbridge.simulate.incidents import DEAD, PoolStates
from esbridge.simulate.site import GiB, Pool, SiteModel
from esbridge.simulate.timefmt import utc_seconds

POLL_INTERVAL = 900.0


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
        rng = self._rng
        name = pool.name
        free_share = min(0.9, max(0.02, self._free[name] + rng.gauss(0.0, 0.01)))
        self._free[name] = free_share
        free = int(pool.total * free_share)
        used = pool.total - free
        precious = int(used * rng.uniform(0.05, 0.3)) if pool.hsm else 0
        snapshot: dict[str, Any] = {
            "@timestamp": utc_seconds(t),
            "pool": name,
            "poolgroups": list(pool.groups),
            "host": pool.host,
            "mode": "enabled",
            "enabled": True,
            "read_only": False,
        }
        state = self._states.mode_at(name, t)
        heartbeat = rng.randrange(0, 20)
        if state is not None:
            mode, reason, since = state
            flags = mode[len("disabled(") : -1].split(",")
            snapshot |= {
                "mode": mode,
                "enabled": False,
                "read_only": "store" in flags and "fetch" not in flags,
                "status_code": 1,
                "status_message": reason,
            }
            if mode == DEAD:
                heartbeat = int(t - since)
        snapshot["space"] = {
            "total": pool.total,
            "free": free,
            "precious": precious,
            "removable": int((used - precious) * rng.uniform(0.5, 0.95)),
            "used": used,
            "gap": 4 * GiB,
        }
        snapshot["last_heartbeat"] = heartbeat
        return orjson.dumps(snapshot)
