"""The digest posted to a real HTTP server (http.server in a thread on a loopback port)."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from esbridge.config.notify import WebhookConfig
from esbridge.notify import NotifyError, Row, build_digest, digest_payload, post_digest

NOW = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    headers: Message
    body: bytes


@dataclass
class Hook:
    """What the server answers, and every request it got."""

    url: str
    status: int = 204
    location: str | None = None
    requests: list[Request] = field(default_factory=list)


@pytest.fixture
def hook() -> Iterator[Hook]:
    recorded = Hook(url="")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            recorded.requests.append(Request(self.command, self.path, self.headers, body))
            self.send_response(recorded.status)
            if recorded.location:
                self.send_header("Location", recorded.location)
            self.send_header("Content-Length", "0")
            self.end_headers()

        do_GET = do_POST

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    recorded.url = f"http://127.0.0.1:{server.server_port}/hooks/T0KEN-in-path"
    try:
        yield recorded
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def webhook(url: str, **options: object) -> WebhookConfig:
    return WebhookConfig.model_validate({"url": url, "timeout": 5, **options})


def payload() -> dict[str, object]:
    berlin = timezone(timedelta(hours=1))
    rows = [
        Row("pool1Domain", "cms-disk", "resolved", "pool-disabled", "fixed", NOW, "pool1"),
        Row(
            "<pool2Domain>",
            "atlas",
            "unresolved",
            "pool-disabled",
            'Pool mode changed to "disabled"',
            datetime(2025, 3, 1, 12, 30, tzinfo=berlin),
            "pool2",
            new=True,
        ),
    ]
    digest = build_digest(rows, total=7, max_rows=300, now=NOW, prefix="[esbridge]")
    return digest_payload(digest)


def test_digest_is_posted_as_json_with_the_configured_headers(hook: Hook) -> None:
    config = webhook(hook.url, headers={"Authorization": "Bearer abc", "X-Site": "desy"})

    post_digest(config, payload())

    [request] = hook.requests
    assert request.method == "POST"
    assert request.path == "/hooks/T0KEN-in-path"
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["Authorization"] == "Bearer abc"
    assert request.headers["X-Site"] == "desy"
    assert json.loads(request.body) == {
        "subject": "[esbridge] 1 new, 1 resolved, 1 open — dCache issues",
        "total": 7,
        "issues": [
            {
                "pool_domain": "<pool2Domain>",
                "pool_group": "atlas",
                "status": "unresolved",
                "type": "pool-disabled",
                "message": 'Pool mode changed to "disabled"',
                "latest": "2025-03-01T11:30:00.000Z",
                "subject": "pool2",
                "new": True,
            },
            {
                "pool_domain": "pool1Domain",
                "pool_group": "cms-disk",
                "status": "resolved",
                "type": "pool-disabled",
                "message": "fixed",
                "latest": "2025-03-01T12:00:00.000Z",
                "subject": "pool1",
                "new": False,
            },
        ],
    }


def test_a_server_error_is_a_notify_error_without_the_url_path(hook: Hook) -> None:
    hook.status = 500

    with pytest.raises(NotifyError, match="answered HTTP 500") as failure:
        post_digest(webhook(hook.url), payload())

    assert "T0KEN" not in str(failure.value)
    assert str(failure.value).startswith("cannot post the digest to http://127.0.0.1:")


def test_a_redirect_is_refused_not_followed(hook: Hook) -> None:
    hook.status = 302
    hook.location = "/elsewhere"

    with pytest.raises(NotifyError, match="answered HTTP 302"):
        post_digest(webhook(hook.url, headers={"Authorization": "Bearer abc"}), payload())

    assert [request.path for request in hook.requests] == ["/hooks/T0KEN-in-path"]


def test_an_unreachable_server_is_a_notify_error() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]

    with pytest.raises(NotifyError, match=f"cannot post the digest to http://127.0.0.1:{port}: "):
        post_digest(webhook(f"http://127.0.0.1:{port}/hook"), payload())


def test_a_silent_server_times_out_as_a_notify_error() -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        url = f"http://127.0.0.1:{listener.getsockname()[1]}/hook"

        with pytest.raises(NotifyError, match="timed out"):
            post_digest(webhook(url, timeout="300ms"), payload())
