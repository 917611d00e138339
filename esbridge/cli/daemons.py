"""The long-running commands: each has a systemd unit under `pipelines/systemd/`
(`esbridge-<name>@.service`), checked by tests/unit/test_systemd_units.py."""

from __future__ import annotations

DAEMONS: tuple[str, ...] = ("ingest", "watch", "maintain", "react", "poll", "archive")
