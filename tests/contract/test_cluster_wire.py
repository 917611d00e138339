"""What the search-engine layer puts on the wire, checked by a stand-in HTTP server.

The real engines are in tests/integration/test_cluster_layer.py; this file checks what they
cannot show: the exact headers (plain JSON, no compatibility media type, no client-meta
header), credentials, a cluster too old to use, and ISM, which no test distribution carries
(the server answers as OpenSearch's ISM API documents: an update needs `if_seq_no` and
`if_primary_term`, else 409).
"""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from esbridge.cluster.errors import (
    ClusterError,
    ClusterUnavailableError,
    UnsupportedClusterError,
)
from esbridge.cluster.search import SearchCluster
from esbridge.stack.process import free_port


@dataclass
class Seen:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes


@dataclass
class FakeEngine:
    root: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)
    policies: dict[str, tuple[int, dict[str, Any]]] = field(default_factory=dict)
    seen: list[Seen] = field(default_factory=list)

    def answer(self, request: Seen) -> tuple[int, Any]:
        if request.path == "/":
            return 200, self.root
        if request.path == "/_bulk":
            return 200, {"errors": False, "took": 1, "items": []}
        if request.path == "/_plugins/_ism/policies" and request.method == "GET":
            return 200, {"policies": [], "total_policies": 0}
        prefix = "/_plugins/_ism/policies/"
        if request.path.startswith(prefix):
            return self.ism(request, request.path.removeprefix(prefix))
        return 400, {"error": f"no handler found for uri [{request.path}]", "status": 400}

    def ism(self, request: Seen, name: str) -> tuple[int, Any]:
        stored = self.policies.get(name)
        if request.method == "GET":
            if stored is None:
                return 404, {"error": {"type": "status_exception", "reason": "Policy not found"}}
            seq_no, policy = stored
            return 200, {
                "_id": name,
                "_version": seq_no + 1,
                "_seq_no": seq_no,
                "_primary_term": 1,
                "policy": policy,
            }
        if stored is not None and request.query.get("if_seq_no") != [str(stored[0])]:
            return 409, {
                "error": {"type": "version_conflict_engine_exception", "reason": "conflict"}
            }
        seq_no = 0 if stored is None else stored[0] + 1
        self.policies[name] = (seq_no, json.loads(request.body)["policy"])
        return 201 if stored is None else 200, {"_id": name, "_seq_no": seq_no}


@pytest.fixture
def serve() -> Iterator[Any]:
    servers: list[ThreadingHTTPServer] = []

    def start(engine: FakeEngine) -> str:
        class Handler(BaseHTTPRequestHandler):
            def do_any(self) -> None:
                url = urlsplit(self.path)
                length = int(self.headers.get("content-length") or 0)
                request = Seen(
                    self.command,
                    url.path,
                    parse_qs(url.query),
                    {k.lower(): v for k, v in self.headers.items()},
                    self.rfile.read(length),
                )
                engine.seen.append(request)
                status, body = engine.answer(request)
                payload = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json; charset=UTF-8")
                for key, value in engine.headers.items():
                    self.send_header(key, value)
                self.send_header("content-length", str(len(payload)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(payload)

            do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = do_any

            def log_message(self, *_args: object) -> None:
                return

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}"

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


ES8 = {
    "version": {"number": "8.19.7", "build_flavor": "default"},
    "tagline": "You Know, for Search",
}
OS2 = {"version": {"distribution": "opensearch", "number": "2.19.6"}}


def test_requests_are_plain_json_and_ndjson_without_compatibility_headers(serve: Any) -> None:
    engine = FakeEngine(ES8, {"X-Elastic-Product": "Elasticsearch"})
    url = serve(engine)
    body = b'{"create":{"_index":"i","_id":"1"}}\n{"n":1}\n'

    with SearchCluster.connect([url], username="elastic", password="s3cret") as cluster:
        cluster.bulk(body, filter_path="errors")

    connect, bulk = engine.seen
    assert (connect.method, connect.path) == ("GET", "/")
    assert connect.headers["accept"] == "application/json"
    assert bulk.headers["content-type"] == "application/x-ndjson"
    assert bulk.headers["accept"] == "application/json"
    assert bulk.body == body and bulk.query == {"filter_path": ["errors"]}
    for seen in engine.seen:
        assert "compatible-with" not in json.dumps(seen.headers)
        assert "x-elastic-client-meta" not in seen.headers
        assert (
            seen.headers["authorization"] == "Basic " + base64.b64encode(b"elastic:s3cret").decode()
        )


def test_api_key_goes_in_the_authorization_header(serve: Any) -> None:
    engine = FakeEngine(OS2)

    with SearchCluster.connect([serve(engine)], api_key="aWQ6a2V5") as cluster:
        assert cluster.flavour.label == "OpenSearch 2.19.6"

    assert engine.seen[0].headers["authorization"] == "ApiKey aWQ6a2V5"


def test_a_cluster_too_old_is_refused_at_connect_in_one_line(serve: Any) -> None:
    url = serve(
        FakeEngine({"version": {"number": "7.17.9"}}, {"X-Elastic-Product": "Elasticsearch"})
    )

    with pytest.raises(UnsupportedClusterError) as refused:
        SearchCluster.connect([url])

    assert str(refused.value) == (
        f"Elasticsearch 7.17.9 at {url} is older than esbridge supports: "
        "Elasticsearch 8 and 9, OpenSearch 2 and 3"
    )


def test_nothing_listening_is_unavailable_not_a_traceback() -> None:
    url = f"http://127.0.0.1:{free_port()}"

    with pytest.raises(ClusterUnavailableError, match=rf"^{url}: GET /: "):
        SearchCluster.connect([url])


def test_ism_policy_is_created_then_updated_with_the_stored_seq_no(serve: Any) -> None:
    engine = FakeEngine(OS2)
    policy = {"description": "v1", "default_state": "hot", "states": []}

    with SearchCluster.connect([serve(engine)]) as cluster:
        assert cluster.lifecycle() == "ism"
        assert cluster.get_lifecycle_policy("esbridge-billing") is None
        cluster.put_lifecycle_policy("esbridge-billing", policy)
        cluster.put_lifecycle_policy("esbridge-billing", policy | {"description": "v2"})
        stored = cluster.get_lifecycle_policy("esbridge-billing")

    assert stored == policy | {"description": "v2"}
    puts = [seen for seen in engine.seen if seen.method == "PUT"]
    assert [seen.query for seen in puts] == [
        {},
        {"if_seq_no": ["0"], "if_primary_term": ["1"]},
    ]


def test_elasticsearch_without_ilm_says_so_instead_of_failing_later(serve: Any) -> None:
    engine = FakeEngine(ES8, {"X-Elastic-Product": "Elasticsearch"})

    with SearchCluster.connect([serve(engine)]) as cluster:
        assert cluster.lifecycle() is None
        with pytest.raises(ClusterError, match="has neither ILM nor ISM"):
            cluster.put_lifecycle_policy("p", {})
