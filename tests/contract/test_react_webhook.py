"""A reactor's webhook action posting to a real HTTP server (http.server in a thread)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from esbridge.config.react import ReactorConfig
from esbridge.ingest.message import Message
from esbridge.react.actions import Account, Processes
from esbridge.react.runner import ReactorLoop, perform_for
from tests.helpers.reacting import PREFIX, billing_request
from tests.helpers.seams import FakeClock, FakeSource


@dataclass
class Hook:
    url: str = ""
    statuses: list[int] = field(default_factory=list)
    bodies: list[object] = field(default_factory=list)


@pytest.fixture
def hook() -> Iterator[Hook]:
    recorded = Hook()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            recorded.bodies.append(json.loads(body))
            self.send_response(recorded.statuses.pop(0) if recorded.statuses else 204)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    recorded.url = f"http://127.0.0.1:{server.server_port}/hooks/T0KEN"
    try:
        yield recorded
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def loop_for(hook: Hook, messages: list[Message], attempts: int) -> tuple[ReactorLoop, FakeSource]:
    reactor = ReactorConfig.model_validate({
        "name": "notify",
        "producer": "billing",
        "path": {"strip_prefix": PREFIX},
        "coalesce": 0,
        "action": {"webhook": {
            "url": hook.url,
            "body": {"folder": "{parent}", "file": "{name}"},
            "retry": {"attempts": attempts, "initial_backoff": 0.01, "max_backoff": 0.01},
        }},
    })  # fmt: skip
    source = FakeSource(backlog=messages)
    perform = perform_for(reactor, Account(), Processes(), threading.Event())
    loop = ReactorLoop(reactor, ["billing"], source, perform, None, clock=FakeClock(),
                       spawn=lambda job: job())  # fmt: skip
    loop.dead_letters = Sink()
    return loop, source


class Sink:
    def __init__(self) -> None:
        self.stored: dict[str, dict[str, object]] = {}

    def write(self, documents: list[tuple[str, dict[str, object]]]) -> None:
        self.stored.update(documents)


def test_the_webhook_gets_the_rendered_target_as_json_after_a_retried_500(hook: Hook) -> None:
    hook.statuses = [500]
    message = Message("billing", 0, 0, billing_request(PREFIX + 'alice/files/a "b"/c\'d'))
    loop, source = loop_for(hook, [message], attempts=3)
    for _ in range(3):
        loop.step(0)
    expected = {"reactor": "notify", "target": {"folder": '/alice/files/a "b"', "file": "c'd"}}
    assert hook.bodies == [expected, expected]
    assert source.committed() == {("billing", 0): 1}


def test_a_webhook_that_keeps_failing_becomes_a_dead_letter(hook: Hook) -> None:
    hook.statuses = [503, 503]
    loop, source = loop_for(hook, [Message("billing", 0, 4, billing_request(PREFIX + "x/y"))], 2)
    for _ in range(3):
        loop.step(0)
    assert isinstance(loop.dead_letters, Sink)
    (letter,) = loop.dead_letters.stored.values()
    assert letter["target"] == {"folder": "/x", "file": "y"}
    assert "HTTP 503" in str(letter["reason"])
    assert "T0KEN" not in str(letter["reason"]), "the URL's path (a token) is not echoed"
    assert source.committed() == {("billing", 0): 5}
