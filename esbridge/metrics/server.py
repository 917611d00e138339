"""`/metrics` and `/healthz` on one small HTTP server thread, the same for every daemon.

A standard-library `ThreadingHTTPServer` (not prometheus_client's `start_http_server`) so one
server answers both paths, binds where the config says, and can be closed again in tests.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from esbridge.errors import EsbridgeError
from esbridge.metrics.health import Health

log = logging.getLogger("esbridge.metrics")


class MetricsServer:
    """Serves `registry` on /metrics and `health()` on /healthz (200 `ok`, or 503 and one line
    saying why) until `close()`; port 0 takes a free port (see `port`)."""

    def __init__(
        self,
        host: str,
        port: int,
        registry: CollectorRegistry,
        health: Callable[[], Health],
    ) -> None:
        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                path = self.path.split("?", 1)[0]
                if path == "/metrics":
                    self.answer(200, generate_latest(registry), CONTENT_TYPE_LATEST)
                elif path == "/healthz":
                    state = health()
                    text = f"{state.reason}\n".encode()
                    self.answer(200 if state.ok else 503, text, "text/plain; charset=utf-8")
                else:
                    self.answer(404, b"try /metrics or /healthz\n", "text/plain; charset=utf-8")

            def answer(self, status: int, body: bytes, content_type: str) -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                """Scrapes every few seconds would flood the log."""

        try:
            self.httpd = ThreadingHTTPServer((host, port), Handler)
        except OSError as exc:
            raise EsbridgeError(
                f"cannot serve metrics on {host}:{port} ({exc.strerror or exc}): choose another "
                "metrics.port / --metrics-port, or 0 for a free one"
            ) from None
        self.httpd.daemon_threads = True
        self.host = host
        self.port: int = self.httpd.server_address[1]
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, name="esbridge-metrics", daemon=True
        )
        self.thread.start()
        log.info("metrics on http://%s:%d/metrics, health on /healthz", host, self.port)

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)
