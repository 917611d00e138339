"""Without `mvn`, artifacts come straight over HTTP(S) and are checked against Maven's SHA-1."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from esbridge.stack import artifacts
from esbridge.stack.artifacts import ArtifactError, Coordinate, fetch_with_http

JAR = b"PK\x03\x04 not really a jar, but bytes all the same" * 100


@pytest.fixture
def repository() -> Iterator[dict[str, bytes]]:
    """A Maven-layout HTTP server on loopback serving whatever the test puts in the dict."""
    files: dict[str, bytes] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = files.get(self.path)
            self.send_response(200 if body is not None else 404)
            self.send_header("Content-Length", str(len(body or b"")))
            self.end_headers()
            self.wfile.write(body or b"")

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    files["base"] = f"http://127.0.0.1:{server.server_address[1]}/maven2".encode()
    yield files
    server.shutdown()


def publish(files: dict[str, bytes], body: bytes, sha1: str) -> Coordinate:
    coordinate = Coordinate("org.example", "thing", "1.0")
    path = "/maven2/org/example/thing/1.0/thing-1.0.jar"
    files[path] = body
    files[path + ".sha1"] = sha1.encode()
    return coordinate


def test_plain_download_verifies_sha1_and_lands_in_target(
    repository: dict[str, bytes], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(artifacts, "MAVEN_CENTRAL", repository["base"].decode())
    coordinate = publish(repository, JAR, hashlib.sha1(JAR).hexdigest())

    fetch_with_http(coordinate, tmp_path)

    assert (tmp_path / "thing-1.0.jar").read_bytes() == JAR
    assert not list(tmp_path.glob("*.part"))


def test_plain_download_with_wrong_checksum_is_refused_and_removed(
    repository: dict[str, bytes], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(artifacts, "MAVEN_CENTRAL", repository["base"].decode())
    coordinate = publish(repository, JAR, "0" * 40)

    with pytest.raises(ArtifactError, match="SHA-1 mismatch"):
        fetch_with_http(coordinate, tmp_path)

    assert list(tmp_path.iterdir()) == []
