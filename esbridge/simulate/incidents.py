"""Pool incidents: what is injected into the logs, and the pool states every stream obeys.

An `Incident` is both the script of log lines the simulator writes and the answer key a test or
the watcher checks against: which pool, what happened, when, and whether it came back.
"""

from __future__ import annotations

import bisect
import random
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from esbridge.simulate.site import HEAD_DOMAIN, HEAD_HOST, Pool, SiteModel
from esbridge.simulate.timefmt import to_datetime

INCIDENT_KINDS = ("fault", "operator", "restart", "crash")

ALL_FLAGS = "fetch,store,stage,p2p-client,p2p-server"
DISABLED = f"disabled({ALL_FLAGS})"
DEAD = f"disabled({ALL_FLAGS},dead)"
LOADING = "disabled(store,stage,p2p-client,loading)"
OPERATOR = "disabled()"
ENABLED = "enabled"

FAULTS = (
    "I/O test failed",
    "Checksum verification failed for the repository",
    "Input/output error while reading meta data",
)
OOM = (
    "Restarting due to fatal JVM error: java.lang.OutOfMemoryError: Java heap space\n"
    "\tat org.dcache.pool.repository.v5.ReplicaRepository.fetch(ReplicaRepository.java:512)\n"
    "\tat dmg.cells.nucleus.CellAdapter.messageArrived(CellAdapter.java:1000)"
)
SLOT_USE = 0.9  # incidents live in the first 90 % of the run, so the last lines are not cut off


@dataclass(frozen=True)
class LogLine:
    """One domain-log line: rendered as `dd MMM yyyy HH:mm:ss (cell) [ndc] text`."""

    time: datetime
    domain: str
    host: str
    cell: str
    ndc: str
    text: str


@dataclass(frozen=True)
class ModeChange:
    """A pool mode as the pool logs it (`enabled`, `disabled(<flags>)`), and its reason."""

    time: datetime
    mode: str
    reason: str


@dataclass(frozen=True)
class Incident:
    """A pool incident injected into the logs, with its outcome.

    `kind` is `fault` (`Pool disabled: <msg>`), `operator` (`disabled(): Operator
    intervention`), `restart` (Shutdown, Awaiting initialization, Loading..., enabled) or `crash`
    (fatal JVM error, then `declared as DOWN`, then the restart lines when resolved).
    """

    kind: str
    pool: str
    host: str
    domain: str
    time: datetime
    resolved: bool
    resolved_time: datetime | None
    reason: str
    modes: tuple[ModeChange, ...]
    lines: tuple[LogLine, ...]


@dataclass(frozen=True)
class _Step:
    offset: float
    on_head: bool
    cell: str
    ndc: str
    text: str
    mode: str | None = None
    reason: str = ""


def _change(offset: float, pool: str, mode: str, reason: str) -> _Step:
    text = f"Pool mode changed to {mode}: {reason}" if reason else f"Pool mode changed to {mode}"
    return _Step(offset, False, pool, "", text, mode, reason)


def _echo(offset: float, pool: str, old: str, new: str) -> _Step:
    """PoolManager's echo of a mode change: note the two spaces before `to`."""
    text = f"Pool {pool} changed from mode {old}  to {new}."
    return _Step(offset, True, "PoolManager", f"{pool} PoolManagerPoolUp", text)


def _steps(kind: str, pool: Pool, resolved: bool, rng: random.Random) -> list[_Step]:
    name = pool.name
    if kind == "fault":
        msg = rng.choice(FAULTS)
        steps = [
            _change(0.0, name, DISABLED, f"Pool disabled: {msg}"),
            _Step(
                0.5,
                False,
                name,
                "",
                f"Pool: {name}, fault occurred in repository: {msg}. Pool disabled: ",
            ),
            _echo(2.0, name, ENABLED, DISABLED),
        ]
        back, last = rng.uniform(1200, 2400), DISABLED
    elif kind == "operator":
        steps = [
            _change(0.0, name, OPERATOR, "Operator intervention"),
            _echo(1.5, name, ENABLED, OPERATOR),
        ]
        back, last = rng.uniform(600, 3600), OPERATOR
    else:
        if kind == "restart":
            steps = [_change(0.0, name, DEAD, "Shutdown")]
            up = rng.uniform(30, 60)
        else:
            steps = [
                _Step(0.0, False, "System", "", OOM, DEAD, "Restarting due to fatal JVM error"),
                _Step(
                    600.0,
                    True,
                    "PoolManager",
                    "",
                    f"Pool {name} declared as DOWN: no ping in 600 seconds.",
                ),
            ]
            up = rng.uniform(700, 1500)
        loading = up + rng.uniform(0.5, 2.0)
        steps += [
            _change(up, name, DISABLED, "Awaiting initialization"),
            _change(loading, name, LOADING, "Loading..."),
        ]
        back, last = loading + rng.uniform(60, 240), LOADING
    if resolved:
        steps += [_change(back, name, ENABLED, ""), _echo(back + 2.0, name, last, ENABLED)]
    return steps


def plan_incidents(
    site: SiteModel, rng: random.Random, start: float, span: float, count: int
) -> list[Incident]:
    """`count` incidents, one per equal slot of the run, on distinct-at-a-time pools.

    The first starts exactly at `start` (so the first poolinfo snapshot already shows it); the
    natural timeline (minutes) is compressed to fit its slot when the run is short. With two or
    more, the first always comes back and the last never does, so every run shows both a
    resolved issue and one still open when the watcher looks (the demo's digest mail).
    """
    incidents: list[Incident] = []
    down_for_good: set[str] = set()
    first_kind = rng.randrange(len(INCIDENT_KINDS))
    slot = span * SLOT_USE / count if count else 0.0
    for i in range(count):
        kind = INCIDENT_KINDS[(first_kind + i) % len(INCIDENT_KINDS)]
        resolved = i == 0 or rng.random() < 0.7
        if count > 1 and i == count - 1:
            resolved = False
        candidates = [
            p
            for p in site.pools
            if p.name not in down_for_good
            and (kind in ("fault", "operator") or len(site.pools_in_domain(p.domain)) == 1)
        ]
        if not candidates:
            break
        pool = rng.choice(candidates)
        steps = _steps(kind, pool, resolved, rng)
        natural = steps[-1].offset
        scale = min(1.0, 0.8 * slot / natural) if natural > 0 else 1.0
        t0 = start + i * slot
        if i:
            t0 += rng.uniform(0.0, max(0.0, slot - scale * natural))
        incidents.append(_incident(kind, pool, steps, resolved=resolved, t0=t0, scale=scale))
        if not resolved:
            down_for_good.add(pool.name)
    return incidents


def _incident(
    kind: str, pool: Pool, steps: list[_Step], *, resolved: bool, t0: float, scale: float
) -> Incident:
    lines: list[LogLine] = []
    modes: list[ModeChange] = []
    for step in steps:
        # Millisecond precision, so that re-rendering from the datetime gives the same text.
        when = to_datetime(round((t0 + step.offset * scale) * 1000) / 1000)
        domain, host = (HEAD_DOMAIN, HEAD_HOST) if step.on_head else (pool.domain, pool.host)
        lines.append(LogLine(when, domain, host, step.cell, step.ndc, step.text))
        if step.mode is not None:
            modes.append(ModeChange(when, step.mode, step.reason))
    return Incident(
        kind=kind,
        pool=pool.name,
        host=pool.host,
        domain=pool.domain,
        time=lines[0].time,
        resolved=resolved,
        resolved_time=modes[-1].time if resolved else None,
        reason=modes[0].reason,
        modes=tuple(modes),
        lines=tuple(lines),
    )


class PoolStates:
    """Pool modes over time, as the incidents set them; every pool is enabled otherwise."""

    def __init__(self, incidents: Iterable[Incident]) -> None:
        changes: dict[str, list[tuple[float, str, str]]] = {}
        bounds: list[tuple[float, int, str]] = []
        for incident in incidents:
            changes.setdefault(incident.pool, []).extend(
                (m.time.timestamp(), m.mode, m.reason) for m in incident.modes
            )
            bounds.append((incident.modes[0].time.timestamp(), 1, incident.pool))
            if incident.resolved_time is not None:
                bounds.append((incident.resolved_time.timestamp(), -1, incident.pool))
        self._changes = {pool: sorted(c) for pool, c in changes.items()}
        self._times = {pool: [c[0] for c in cs] for pool, cs in self._changes.items()}
        self._bounds = sorted(bounds)
        self._next = 0
        self._count: dict[str, int] = {}
        self._out: frozenset[str] = frozenset()

    def mode_at(self, pool: str, t: float) -> tuple[str, str, float] | None:
        """(mode, reason, since when) of a pool that is not enabled at `t`, else None."""
        times = self._times.get(pool)
        if times is None:
            return None
        i = bisect.bisect_right(times, t) - 1
        if i < 0 or self._changes[pool][i][1] == ENABLED:
            return None
        since, mode, reason = self._changes[pool][i]
        return mode, reason, since

    def out_of_service(self, t: float) -> frozenset[str]:
        """Pools disabled or dead at `t`; cheap when `t` only moves forward, as billing's does."""
        bounds = self._bounds
        if self._next < len(bounds) and bounds[self._next][0] <= t:
            while self._next < len(bounds) and bounds[self._next][0] <= t:
                _, delta, pool = bounds[self._next]
                self._count[pool] = self._count.get(pool, 0) + delta
                self._next += 1
            self._out = frozenset(p for p, n in self._count.items() if n > 0)
        return self._out
