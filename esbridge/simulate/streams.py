"""The public generators: one stream (`generate`), all of them interleaved (`mix`), and the
incidents they inject (`generate_incidents`).

Simulated time runs from `start` over `count / rate` seconds (poolinfo: one poll per 15 minutes).
Each stream draws from its own `random.Random` derived from the seed, so a stream is identical
whether generated alone or within a mix, and the same arguments always give the same bytes.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Collection, Iterator
from datetime import UTC, datetime
from itertools import islice
from operator import itemgetter

from esbridge.simulate.billing import BillingGenerator
from esbridge.simulate.filebeat import AccessGenerator, LogGenerator
from esbridge.simulate.incidents import Incident, PoolStates, plan_incidents
from esbridge.simulate.poolinfo import POLL_INTERVAL, PoolinfoGenerator
from esbridge.simulate.rand import SimRandom
from esbridge.simulate.site import SiteModel

KINDS = ("billing", "logs", "access", "poolinfo")
SHARES = {"billing": 0.80, "access": 0.15, "logs": 0.05}  # of the non-poolinfo messages in a mix
MERGE_ORDER = ("logs", "billing", "access", "poolinfo")  # at equal times: a disable line first
DEFAULT_RATE = 100.0
DEFAULT_LOG_ZONE = "Europe/Berlin"

Tagged = tuple[float, str, bytes]


def generate(
    kind: str,
    count: int,
    *,
    seed: int = 0,
    incidents: bool = False,
    start: datetime | None = None,
    rate: float = DEFAULT_RATE,
    log_zone: str = DEFAULT_LOG_ZONE,
    site: SiteModel | None = None,
) -> Iterator[bytes]:
    """`count` raw Kafka messages of one stream: billing, logs, access or poolinfo.

    `rate` is messages per simulated second (poolinfo ignores it: one snapshot per pool every
    15 minutes). With `incidents`, the logs carry the lines of `generate_incidents` with the same
    arguments, and billing and poolinfo respect the pool states they imply.
    """
    _check(kind, count, rate)
    model = site or SiteModel.default()
    t0 = _epoch(start)
    span = _span(kind, count, rate, model)
    planned = _plan(model, seed, incidents=incidents, t0=t0, span=span, count=count)
    routine = count - sum(len(i.lines) for i in planned) if kind == "logs" else count
    stream = _stream(
        kind, model, seed, planned, t0=t0, span=span, count=max(0, routine), log_zone=log_zone
    )
    return (message for _, message in islice(stream, count))


def mix(
    count: int,
    *,
    seed: int = 0,
    incidents: bool = False,
    start: datetime | None = None,
    rate: float = DEFAULT_RATE,
    log_zone: str = DEFAULT_LOG_ZONE,
    site: SiteModel | None = None,
    kinds: Collection[str] = KINDS,
) -> Iterator[tuple[str, bytes]]:
    """`count` (kind, message) pairs of a live site in time order, `rate` per simulated second.

    Billing dominates (`SHARES`), every pool gets a poolinfo snapshot at `start` and every
    15 minutes after, and the incidents' log lines come on top of the routine ones. `kinds`
    leaves streams out (for a site without access logs, say) without changing the others' share.
    """
    _check("billing", count, rate)
    unknown = set(kinds) - set(KINDS)
    if unknown:
        raise ValueError(f"unknown kinds {sorted(unknown)}; expected some of {KINDS}")
    model = site or SiteModel.default()
    t0 = _epoch(start)
    span = count / rate
    planned = _plan(model, seed, incidents=incidents, t0=t0, span=span, count=count)
    polls = math.ceil(span / POLL_INTERVAL) if "poolinfo" in kinds else 0
    lines = sum(len(i.lines) for i in planned) if "logs" in kinds else 0
    budget = max(0, count - polls * len(model.pools) - lines)
    counts = _split(budget, [k for k in SHARES if k in kinds])
    if polls:
        counts["poolinfo"] = 0  # poolinfo comes by the clock, not by count
    streams = [
        _tag(
            kind, _stream(kind, model, seed, planned, t0=t0, span=span, count=n, log_zone=log_zone)
        )
        for kind, n in sorted(counts.items(), key=lambda item: MERGE_ORDER.index(item[0]))
    ]
    merged = heapq.merge(*streams, key=itemgetter(0))
    return ((kind, message) for _, kind, message in islice(merged, count))


def generate_incidents(
    count: int,
    *,
    kind: str = "mix",
    seed: int = 0,
    start: datetime | None = None,
    rate: float = DEFAULT_RATE,
    site: SiteModel | None = None,
) -> list[Incident]:
    """The incidents `generate(kind, count, incidents=True, ...)` or `mix(count, ...)` inject.

    Pass the same `start` (the default is "now", different on every call). One incident per
    half hour of simulated time, at least four, at most one per 250 messages (at least one).
    """
    stream = "billing" if kind == "mix" else kind  # a mix spans time as billing does
    _check(stream, count, rate)
    model = site or SiteModel.default()
    t0 = _epoch(start)
    span = _span(stream, count, rate, model)
    return _plan(model, seed, incidents=True, t0=t0, span=span, count=count)


def _check(kind: str, count: int, rate: float) -> None:
    if kind not in KINDS:
        raise ValueError(f"unknown kind {kind!r}; expected one of {KINDS}")
    if count < 0:
        raise ValueError(f"count must not be negative, got {count}")
    if not rate > 0:
        raise ValueError(f"rate must be positive, got {rate}")


def _epoch(start: datetime | None) -> float:
    if start is None:
        return datetime.now(UTC).timestamp()
    if start.tzinfo is None:
        raise ValueError("start must be timezone-aware (e.g. datetime.now(UTC))")
    return start.timestamp()


def _span(kind: str, count: int, rate: float, site: SiteModel) -> float:
    if kind == "poolinfo":
        return math.ceil(count / len(site.pools)) * POLL_INTERVAL
    return count / rate


def _rng(seed: int, stream: str) -> SimRandom:
    return SimRandom(f"esbridge.simulate:{seed}:{stream}")


def _plan(
    site: SiteModel, seed: int, *, incidents: bool, t0: float, span: float, count: int
) -> list[Incident]:
    if not incidents or count <= 0:
        return []
    how_many = min(max(4, int(span // 1800)), max(1, count // 250))
    return plan_incidents(site, _rng(seed, "incidents"), t0, span, how_many)


def _times(seed: int, kind: str, t0: float, span: float, count: int) -> Iterator[float]:
    """`count` increasing times spread evenly over the span, jittered within their slot."""
    rng = _rng(seed, f"{kind}:times")
    step = span / count if count else 0.0
    return (t0 + (i + rng.random()) * step for i in range(count))


def _split(total: int, kinds: list[str]) -> dict[str, int]:
    """`total` shared among `kinds` by `SHARES`, exactly, remainders to the largest shares."""
    if not kinds:
        return {}
    weight = sum(SHARES[k] for k in kinds)
    exact = {k: total * SHARES[k] / weight for k in kinds}
    counts = {k: int(v) for k, v in exact.items()}
    for k in sorted(kinds, key=lambda k: counts[k] - exact[k])[: total - sum(counts.values())]:
        counts[k] += 1
    return counts


def _stream(
    kind: str,
    site: SiteModel,
    seed: int,
    planned: list[Incident],
    *,
    t0: float,
    span: float,
    count: int,
    log_zone: str,
) -> Iterator[tuple[float, bytes]]:
    """`count` routine messages of `kind` over the span, with their times; poolinfo ignores
    `count` and snapshots every pool at each poll; logs add the incidents' lines."""
    rng = _rng(seed, kind)
    states = PoolStates(planned)
    if kind == "poolinfo":
        polls = (t0 + k * POLL_INTERVAL for k in range(math.ceil(span / POLL_INTERVAL)))
        return PoolinfoGenerator(site, rng, states).messages(polls)
    times = _times(seed, kind, t0, span, count)
    if kind == "billing":
        return BillingGenerator(site, rng, states).messages(times)
    if kind == "access":
        return AccessGenerator(site, rng).messages(times)
    return LogGenerator(site, rng, log_zone, states).messages(times, planned)


def _tag(kind: str, stream: Iterator[tuple[float, bytes]]) -> Iterator[Tagged]:
    return ((t, kind, message) for t, message in stream)
