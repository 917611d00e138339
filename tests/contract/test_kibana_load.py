"""`esbridge kibana load/export` against an HTTP server that behaves as Kibana's API documents.

No Kibana runs here: the server in this file checks each request the way Kibana would (path
with the space prefix, `kbn-xsrf`, Authorization, the `overwrite` parameter, a multipart body
whose field is `file`) and answers with the documented success and error bodies.
"""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from click.testing import CliRunner, Result

from esbridge.cli import main
from esbridge.kibana.objects import render_objects

BASIC = "Basic " + base64.b64encode(b"elastic:s3cret").decode()
API_KEY = "ApiKey VnVhQ2ZHY0JDZGJrUW0tZTVhT3g6dWkybHAyYXhUTm1zeWFrdzl0dk5udw=="


@dataclass
class Seen:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes


@dataclass
class FakeKibana:
    version: str = "8.15.3"
    accepted_auth: frozenset[str] = frozenset({BASIC, API_KEY})
    stored: dict[tuple[str, str, str], dict[str, Any]] = field(default_factory=dict)
    seen: list[Seen] = field(default_factory=list)
    url: str = ""

    def answer(self, request: Seen) -> tuple[int, Any]:
        if request.headers.get("authorization") not in self.accepted_auth:
            return 401, {
                "statusCode": 401,
                "error": "Unauthorized",
                "message": "[security_exception]: unable to authenticate user",
            }
        if request.method == "GET" and request.path == "/api/status":
            return 200, {"name": "kibana", "version": {"number": self.version}}
        space, _, api = request.path.partition("/api/saved_objects/")
        space = space.removeprefix("/s/") or "default"
        if "kbn-xsrf" not in request.headers:
            return 400, {"statusCode": 400, "error": "Bad Request", "message": "missing kbn-xsrf"}
        if request.method == "POST" and api == "_import":
            return 200, self.do_import(space, request)
        if request.method == "POST" and api == "_export":
            wanted = json.loads(request.body)["objects"]
            lines = [self.stored[space, o["type"], o["id"]] for o in wanted]
            return 200, "".join(json.dumps(o) + "\n" for o in lines)
        return 404, {"statusCode": 404, "error": "Not Found", "message": "Not Found"}

    def do_import(self, space: str, request: Seen) -> dict[str, Any]:
        content_type = request.headers["content-type"]
        part = message_from_bytes(
            f"Content-Type: {content_type}\r\n\r\n".encode() + request.body, policy=policy.HTTP
        )
        (file_part,) = part.iter_parts()  # type: ignore[attr-defined]
        assert file_part.get_param("name", header="content-disposition") == "file"
        assert file_part.get_filename().endswith(".ndjson")
        overwrite = request.query.get("overwrite") == ["true"]
        successes, errors = [], []
        for line in file_part.get_content().splitlines():
            obj = json.loads(line)
            key = (space, obj["type"], obj["id"])
            meta = {"title": obj["attributes"].get("title"), "icon": "app"}
            if key in self.stored and not overwrite:
                errors.append(
                    {
                        "id": obj["id"],
                        "type": obj["type"],
                        "meta": meta,
                        "error": {"type": "conflict"},
                    }
                )
                continue
            result = {"id": obj["id"], "type": obj["type"], "meta": meta}
            if key in self.stored:
                result["overwrite"] = True
            self.stored[key] = obj | {
                "updated_at": "2026-10-14T08:00:00.000Z",
                "version": "WzEsMV0=",
            }
            successes.append(result)
        body: dict[str, Any] = {"success": not errors, "successCount": len(successes)}
        if successes:
            body["successResults"] = successes
        if errors:
            body["errors"] = errors
        return body


@pytest.fixture
def kibana() -> Iterator[FakeKibana]:
    fake = FakeKibana()

    class Handler(BaseHTTPRequestHandler):
        def handle_one(self, method: str) -> None:
            parts = urlsplit(self.path)
            length = int(self.headers.get("content-length") or 0)
            request = Seen(
                method,
                parts.path,
                parse_qs(parts.query),
                {k.lower(): v for k, v in self.headers.items()},
                self.rfile.read(length),
            )
            fake.seen.append(request)
            status, body = fake.answer(request)
            payload = (body if isinstance(body, str) else json.dumps(body)).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def do_GET(self) -> None:
            self.handle_one("GET")

        def do_POST(self) -> None:
            self.handle_one("POST")

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    fake.url = f"http://127.0.0.1:{server.server_port}"
    yield fake
    server.shutdown()
    server.server_close()


def run(*args: str) -> Result:
    return CliRunner().invoke(main, ["kibana", *args], catch_exceptions=False)


def load(kibana: FakeKibana, *extra: str) -> Result:
    return run("load", "--url", kibana.url, "--user", "elastic", "--password", "s3cret", *extra)


EXPECTED = {(o["type"], o["id"]) for o in render_objects()}


def test_load_checks_version_then_imports_every_object_into_the_space(kibana: FakeKibana) -> None:
    result = load(kibana, "--space", "ops", "--overwrite")

    assert result.exit_code == 0, result.output
    status, upload = kibana.seen
    assert (status.method, status.path) == ("GET", "/api/status")
    assert (upload.method, upload.path) == ("POST", "/s/ops/api/saved_objects/_import")
    assert upload.query == {"overwrite": ["true"]}
    assert upload.headers["authorization"] == BASIC
    assert upload.headers["kbn-xsrf"]
    assert upload.headers["content-type"].startswith("multipart/form-data; boundary=")
    assert {(t, i) for s, t, i in kibana.stored if s == "ops"} == EXPECTED
    assert f"{len(EXPECTED)} objects imported" in result.output
    assert "dashboard esbridge-dashboard-transfers: ok" in result.output


def test_load_sends_the_api_key_and_uses_the_default_space_without_a_prefix(
    kibana: FakeKibana,
) -> None:
    result = run("load", "--url", kibana.url, "--api-key", API_KEY.removeprefix("ApiKey "))

    assert result.exit_code == 0, result.output
    upload = kibana.seen[-1]
    assert upload.path == "/api/saved_objects/_import"
    assert upload.query == {}
    assert upload.headers["authorization"] == API_KEY


def test_second_load_without_overwrite_reports_each_conflict_and_fails(
    kibana: FakeKibana,
) -> None:
    assert load(kibana).exit_code == 0

    result = load(kibana)

    assert result.exit_code == 1
    assert "index-pattern esbridge-billing: error: conflict" in result.output
    assert f"{len(EXPECTED)} of {len(EXPECTED)} objects failed" in result.output
    assert "--overwrite" in result.output


def test_load_with_overwrite_is_idempotent(kibana: FakeKibana) -> None:
    first = load(kibana, "--overwrite")
    stored_after_first = {k: v["attributes"] for k, v in kibana.stored.items()}

    second = load(kibana, "--overwrite")

    assert first.exit_code == second.exit_code == 0
    assert second.output.count(": ok") == len(EXPECTED)
    assert {k: v["attributes"] for k, v in kibana.stored.items()} == stored_after_first


def test_load_refuses_a_kibana_older_than_8_before_importing(kibana: FakeKibana) -> None:
    kibana.version = "7.17.9"

    result = load(kibana)

    assert result.exit_code == 1
    assert "Kibana 7.17.9 is not supported" in result.output
    assert [r.path for r in kibana.seen] == ["/api/status"]


def test_load_accepts_kibana_9(kibana: FakeKibana) -> None:
    kibana.version = "9.1.0"

    assert load(kibana).exit_code == 0


def test_load_with_wrong_credentials_says_so(kibana: FakeKibana) -> None:
    result = run("load", "--url", kibana.url, "--user", "elastic", "--password", "wrong")

    assert result.exit_code == 1
    assert "Kibana answered 401" in result.output
    assert "unable to authenticate user" in result.output
    assert "check --user/--password or --api-key" in result.output
    assert kibana.stored == {}


def test_dry_run_lists_the_objects_and_sends_nothing(kibana: FakeKibana) -> None:
    result = load(kibana, "--dry-run")

    assert result.exit_code == 0
    assert kibana.seen == []
    assert result.output.count("would import") == len(EXPECTED)


def test_export_writes_sorted_objects_without_kibana_bookkeeping(
    kibana: FakeKibana, tmp_path: Path
) -> None:
    assert load(kibana, "--space", "ops").exit_code == 0
    output = tmp_path / "exported.ndjson"

    kibana.accepted_auth = frozenset({"ApiKey VnVh"})

    result = run(
        "export", "--url", kibana.url, "--space", "ops", "--api-key", "VnVh", "-o", str(output)
    )

    assert result.exit_code == 0, result.output
    request = kibana.seen[-1]
    assert request.path == "/s/ops/api/saved_objects/_export"
    assert {(o["type"], o["id"]) for o in json.loads(request.body)["objects"]} == EXPECTED
    lines = [json.loads(line) for line in output.read_text().splitlines()]
    assert [(o["type"], o["id"]) for o in lines] == sorted(EXPECTED)
    assert all("updated_at" not in o and "version" not in o for o in lines)
