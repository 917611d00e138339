"""What every daemon does the same way: a registry of its own, then the server if configured."""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import CollectorRegistry

from esbridge import __version__
from esbridge.config.metrics import MetricsConfig
from esbridge.metrics.declare import Daemon, gauge
from esbridge.metrics.health import Health
from esbridge.metrics.server import MetricsServer

PORT_OFFSETS: dict[str, int] = {
    "ingest": 0,
    "watch": 1,
    "maintain": 2,
    "poll": 3,
    "react": 4,
    "archive": 5,
}
"""`metrics.port` is ingest's; each other daemon serves on it plus its offset, so the daemons
of one config (one systemd unit each, the same file) never fight over a port."""


def port_of(daemon: str, configured: int | None, given: int | None) -> int | None:
    """`--metrics-port` exactly; else `metrics.port` plus the daemon's offset (0 stays 0: a
    free port each); None (off) when neither is set."""
    if given is not None:
        return given
    if configured is None or configured == 0:
        return configured
    return configured + PORT_OFFSETS[daemon]


class Serving:
    """A daemon's registry and, when `metrics.port` or `--metrics-port` is set, its server.

    Metrics are off unless configured: a port opened by default would surprise a site (and two
    bridges on one host would fight over it).
    """

    def __init__(self, daemon: Daemon) -> None:
        self.daemon = daemon
        self.registry = CollectorRegistry(auto_describe=True)
        gauge(self.registry, "esbridge_up").labels(daemon, __version__).set(1)
        self.server: MetricsServer | None = None

    def start(
        self, settings: MetricsConfig, port: int | None, health: Callable[[], Health]
    ) -> None:
        """Serves on `port` (the command line's) or by `settings.port` (`port_of`); nothing
        when both are unset."""
        gauge(self.registry, "esbridge_healthy").set_function(lambda: 1 if health().ok else 0)
        chosen = port_of(self.daemon, settings.port, port)
        if chosen is not None:
            self.server = MetricsServer(settings.host, chosen, self.registry, health)

    def close(self) -> None:
        if self.server is not None:
            self.server.close()
            self.server = None


def serve(
    daemon: Daemon, settings: MetricsConfig, port: int | None, health: Callable[[], Health]
) -> Serving:
    serving = Serving(daemon)
    serving.start(settings, port, health)
    return serving
