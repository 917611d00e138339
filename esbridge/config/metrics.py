"""The `metrics:` section: where the daemons serve /metrics and /healthz, and when they call
themselves unhealthy."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from esbridge.config.base import Section


class MetricsConfig(Section):
    """Off unless `port` is set (or `--metrics-port` given); 0 takes a free port."""

    # ingest's port; watch serves on port + 1, maintain --loop on + 2 (then poll, react,
    # archive: esbridge/metrics/serve.py PORT_OFFSETS), so one config serves them all.
    port: Annotated[int, Field(ge=0, le=65530)] | None = None
    host: Annotated[str, Field(min_length=1)] = "127.0.0.1"
    # ingest: unhealthy after this many flush intervals without a commit while messages wait.
    stall_flushes: Annotated[int, Field(ge=1)] = 30
    # watch and maintain --loop: unhealthy after this many failed cycles in a row.
    failed_cycles: Annotated[int, Field(ge=1)] = 3
