"""Prometheus metrics and health for every long-running command.

`declare` holds every metric (`SPECS`); `ingest` and `loops` update them per batch or cycle on
a registry passed in (never the process-global one, so tests stay apart); `health` says when a
daemon is unhealthy; `server` serves /metrics and /healthz; `serve` starts it for a daemon;
`grafana` and `docs` render the dashboard and the operations table from the declarations.
"""

from esbridge.metrics.health import Health
from esbridge.metrics.ingest import IngestMetrics
from esbridge.metrics.loops import (
    MaintainMetrics,
    PollMetrics,
    WatchMetrics,
    archive_metrics,
    react_metrics,
)
from esbridge.metrics.serve import Serving, serve

__all__ = [
    "Health",
    "IngestMetrics",
    "MaintainMetrics",
    "PollMetrics",
    "Serving",
    "WatchMetrics",
    "archive_metrics",
    "react_metrics",
    "serve",
]
