"""Synthetic dCache traffic: billing, domain logs, access logs and pool snapshots, to Kafka.

Seeded and pure (`generate`, `mix`) so tests and benchmarks get the same bytes every time;
`Incident` records say which pool incidents were injected and how they ended, so the bridge and
the watcher can be checked against them; `send` / `run_simulation` put the traffic on Kafka.
"""

from esbridge.simulate.incidents import INCIDENT_KINDS, Incident, LogLine, ModeChange
from esbridge.simulate.producer import (
    SendError,
    SendReport,
    SimulationReport,
    TokenBucket,
    run_simulation,
    send,
)
from esbridge.simulate.site import VO, Door, Pool, SiteModel, User
from esbridge.simulate.streams import (
    DEFAULT_LOG_ZONE,
    DEFAULT_RATE,
    KINDS,
    generate,
    generate_incidents,
    mix,
)

__all__ = [
    "DEFAULT_LOG_ZONE",
    "DEFAULT_RATE",
    "INCIDENT_KINDS",
    "KINDS",
    "VO",
    "Door",
    "Incident",
    "LogLine",
    "ModeChange",
    "Pool",
    "SendError",
    "SendReport",
    "SimulationReport",
    "SiteModel",
    "TokenBucket",
    "User",
    "generate",
    "generate_incidents",
    "mix",
    "run_simulation",
    "send",
]
