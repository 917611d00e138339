"""What every daemon does the same way: a registry of its own, then the server if configured."""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import CollectorRegistry

from esbridge import __version__
from esbridge.config.metrics import MetricsConfig
from esbridge.metrics.declare import Daemon, gauge
from esbridge.metrics.health import Health
from esbridge.metrics.server import MetricsServer


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
        """Serves on `port` (the command line's) or `settings.port`; nothing when both unset."""
        gauge(self.registry, "esbridge_healthy").set_function(lambda: 1 if health().ok else 0)
        chosen = settings.port if port is None else port
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
