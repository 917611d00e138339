"""Setup and maintain on a cluster that has ILM or ISM, which no test distribution carries.

A stand-in HTTP server answers as Elasticsearch with ILM or OpenSearch with ISM do, from their
documented answers: `GET _ilm/policy/<name>` wraps the policy in `{name: {version,
modified_date, policy}}`; ISM's `GET _plugins/_ism/policies/<id>` adds `policy_id`,
`last_updated_time`, `schema_version`, `error_notification` to what was stored, and refuses an
update without the current `if_seq_no`/`if_primary_term` (409); the explain APIs say which
index a policy manages. What is checked: setup stores each policy once and leaves it alone on
the next run (the idempotence hash survives what the engine adds), and maintain, where the
module manages an alias, only reports and sends nothing that changes the cluster.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from esbridge.cluster.search import SearchCluster
from esbridge.setup.installer import SetupError, install
from esbridge.setup.maintain import Outcome, Series, line, maintain
from esbridge.setup.templates import Resource, Target, render_resources
from tests.helpers.mappings import ILM, ISM, PRODUCERS, Deadletter

NOW = datetime(2026, 10, 14, 12, 0, tzinfo=UTC)
ES9 = {"version": {"number": "9.2.0", "build_flavor": "default"}}
OS3 = {"version": {"distribution": "opensearch", "number": "3.3.2"}}
ALIAS = "dcache-billing"
SERIES = Series(ALIAS, "esbridge-billing", "event.ingested", 30, 86400.0, 50 * 1024**3)


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    body: Any


@dataclass
class FakeCluster:
    """Elasticsearch 9 with ILM, or OpenSearch 3 with ISM; the alias `dcache-billing` on two
    old, full indices, both managed by the module."""

    module: str
    policies: dict[str, tuple[int, dict[str, Any]]] = field(default_factory=dict)
    seen: list[Request] = field(default_factory=list)

    @property
    def headers(self) -> dict[str, str]:
        return {"x-elastic-product": "Elasticsearch"} if self.module == "ilm" else {}

    def answer(self, request: Request) -> tuple[int, Any]:
        path = request.path
        if path == "/":
            return 200, ES9 if self.module == "ilm" else OS3
        if path == "/_ilm/status" and self.module == "ilm":
            return 200, {"operation_mode": "RUNNING"}
        if path == "/_plugins/_ism/policies" and self.module == "ism":
            return 200, {"policies": [], "total_policies": 0}
        if path.startswith("/_ilm/policy/") and self.module == "ilm":
            return self.ilm_policy(request, path.removeprefix("/_ilm/policy/"))
        if path.startswith("/_plugins/_ism/policies/") and self.module == "ism":
            return self.ism_policy(request, path.removeprefix("/_plugins/_ism/policies/"))
        return self.indices(request)

    def ilm_policy(self, request: Request, name: str) -> tuple[int, Any]:
        stored = self.policies.get(name)
        if request.method == "PUT":
            version = 1 if stored is None else stored[0] + 1
            self.policies[name] = (version, request.body["policy"])
            return 200, {"acknowledged": True}
        if stored is None:
            return 404, {"error": {"type": "resource_not_found_exception", "reason": name}}
        version, policy = stored
        return 200, {name: {"version": version, "modified_date": "2026-10-14", "policy": policy}}

    def ism_policy(self, request: Request, name: str) -> tuple[int, Any]:
        stored = self.policies.get(name)
        if request.method == "GET":
            if stored is None:
                return 404, {"error": {"type": "status_exception", "reason": "Policy not found"}}
            seq_no, policy = stored
            answered = {
                **policy,
                "policy_id": name,
                "last_updated_time": 1796169696055,
                "schema_version": 21,
                "error_notification": None,
                "ism_template": [
                    {**entry, "last_updated_time": 1796169696055}
                    for entry in policy.get("ism_template", [])
                ],
            }
            return 200, {"_id": name, "_seq_no": seq_no, "_primary_term": 1, "policy": answered}
        current = None if stored is None else (str(stored[0]), "1")
        given = (
            request.query.get("if_seq_no", [None])[0],
            request.query.get("if_primary_term", [None])[0],
        )
        if current is not None and given != current:
            return 409, {"error": {"type": "version_conflict_engine_exception", "reason": name}}
        if "_meta" in request.body["policy"]:
            return 400, {"error": {"type": "x_content_parse_exception", "reason": "_meta"}}
        seq_no = 0 if stored is None else stored[0] + 1
        self.policies[name] = (seq_no, request.body["policy"])
        return 201, {"_id": name, "_seq_no": seq_no, "_primary_term": 1}

    def indices(self, request: Request) -> tuple[int, Any]:
        """The alias and its two indices, as the survey reads them."""
        old, write = f"{ALIAS}-000001", f"{ALIAS}-000002"
        created = str(int((NOW - timedelta(days=90)).timestamp() * 1000))
        if request.path == "/_index_template/esbridge-billing":
            body = {"index_patterns": [f"{ALIAS}-*"], "_meta": {"managed_by": "esbridge"}}
            return 200, {"index_templates": [{"name": "esbridge-billing", "index_template": body}]}
        if request.path == f"/_alias/{ALIAS}":
            return 200, {
                old: {"aliases": {ALIAS: {"is_write_index": False}}},
                write: {"aliases": {ALIAS: {"is_write_index": True}}},
            }
        if request.path == f"/{old},{write}":
            meta = {"_meta": {"managed_by": "esbridge", "write_alias": ALIAS}}
            settings = {"index": {"creation_date": created}}
            return 200, {name: {"settings": settings, "mappings": meta} for name in (old, write)}
        if request.path == f"/{old},{write}/_stats/store":
            return 200, {"indices": {}}
        if request.path.endswith("/_search"):
            old_enough = (NOW - timedelta(days=80)).timestamp() * 1000
            return 200, {
                "hits": {"total": {"value": 5}},
                "aggregations": {"newest": {"value": old_enough}},
            }
        if request.path == f"/{old},{write}/_ilm/explain" and self.module == "ilm":
            entry = {"managed": True, "policy": "esbridge-billing", "phase": "hot"}
            return 200, {
                "indices": {
                    old: {**entry, "action": "complete", "step": "complete", "age": "90d"},
                    write: {**entry, "action": "rollover", "step": "check-rollover-ready"},
                }
            }
        if request.path == f"/_plugins/_ism/explain/{old},{write}" and self.module == "ism":
            entry = {"policy_id": "esbridge-billing", "enabled": True}
            return 200, {
                old: {**entry, "state": {"name": "delete"}, "action": {"name": "delete"}},
                write: {
                    **entry,
                    "state": {"name": "hot"},
                    "action": {"name": "rollover", "failed": False},
                    "info": {"message": "Pending rollover of index"},
                },
                "total_managed_indices": 2,
            }
        return 400, {"error": f"no handler found for uri [{request.path}]"}


@pytest.fixture
def connect() -> Iterator[Callable[[FakeCluster], SearchCluster]]:
    servers: list[ThreadingHTTPServer] = []
    clusters: list[SearchCluster] = []

    def start(fake: FakeCluster) -> SearchCluster:
        class Handler(BaseHTTPRequestHandler):
            def do_any(self) -> None:
                url = urlsplit(self.path)
                raw = self.rfile.read(int(self.headers.get("content-length") or 0))
                request = Request(
                    self.command, url.path, parse_qs(url.query), json.loads(raw) if raw else None
                )
                fake.seen.append(request)
                status, body = fake.answer(request)
                payload = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                for key, value in fake.headers.items():
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
        clusters.append(SearchCluster.connect([f"http://127.0.0.1:{server.server_address[1]}"]))
        return clusters[-1]

    yield start
    for cluster in clusters:
        cluster.close()
    for server in servers:
        server.shutdown()
        server.server_close()


def policies(target: Target, producers: tuple[Any, ...] = PRODUCERS) -> list[Resource]:
    return [
        r
        for r in render_resources(producers, Deadletter(), target=target)
        if r.kind in ("ilm_policy", "ism_policy")
    ]


@pytest.mark.parametrize(("module", "target"), [("ilm", ILM), ("ism", ISM)])
def test_setup_stores_each_policy_once_and_leaves_it_on_the_next_run(
    connect: Callable[[FakeCluster], SearchCluster], module: str, target: Target
) -> None:
    fake = FakeCluster(module)
    cluster = connect(fake)
    assert Target.of(cluster) == target

    first = install(cluster, policies(target), dry_run=False)
    again = install(cluster, policies(target), dry_run=False)

    assert [c.action for c in first] == ["created"] * 5
    assert [c.action for c in again] == ["unchanged"] * 5
    stored = {name: policy for name, (_, policy) in fake.policies.items()}
    assert stored == {r.name: r.body["policy"] for r in policies(target)}


def test_an_ism_policy_update_names_the_stored_version(
    connect: Callable[[FakeCluster], SearchCluster],
) -> None:
    fake = FakeCluster("ism")
    cluster = connect(fake)
    install(cluster, policies(ISM), dry_run=False)
    longer = (replace(PRODUCERS[0], retention_days=400), *PRODUCERS[1:])

    changes = install(cluster, policies(ISM, longer), dry_run=False)

    assert [(c.name, c.action) for c in changes if c.action != "unchanged"] == [
        ("esbridge-billing", "updated")
    ]
    update = [r for r in fake.seen if r.method == "PUT"][-1]
    assert (update.query["if_seq_no"], update.query["if_primary_term"]) == (["0"], ["1"])
    assert "400 days" in fake.policies["esbridge-billing"][1]["description"]


def test_a_policy_of_the_other_engines_kind_is_refused_before_it_is_sent(
    connect: Callable[[FakeCluster], SearchCluster],
) -> None:
    fake = FakeCluster("ism")
    cluster = connect(fake)

    with pytest.raises(SetupError, match=r"OpenSearch 3\.3\.2 takes ISM policies, not ILM"):
        install(cluster, policies(ILM), dry_run=False)

    assert [r for r in fake.seen if r.method == "PUT"] == []


@pytest.mark.parametrize(
    ("module", "expected"),
    [
        (
            "ilm",
            [
                "ILM policy esbridge-billing: phase hot, action complete, step complete, "
                "index age 90d",
                "ILM policy esbridge-billing: phase hot, action rollover, "
                "step check-rollover-ready",
            ],
        ),
        (
            "ism",
            [
                "ISM policy esbridge-billing: state delete, action delete",
                "ISM policy esbridge-billing: state hot, action rollover: "
                "Pending rollover of index",
            ],
        ),
    ],
)
def test_maintain_only_reports_an_alias_the_module_manages(
    connect: Callable[[FakeCluster], SearchCluster], module: str, expected: list[str]
) -> None:
    """Both indices are old and full enough to roll over and delete: the module decides."""
    fake = FakeCluster(module)
    cluster = connect(fake)
    outcomes: list[Outcome] = []

    tally = maintain(cluster, [SERIES], now=NOW, dry_run=False, emit=outcomes.append)

    assert [(o.step.verb, o.step.index, o.step.reason) for o in outcomes] == [
        ("managed", f"{ALIAS}-000001", expected[0]),
        ("managed", f"{ALIAS}-000002", expected[1]),
    ]
    assert line(outcomes[0], dry_run=False).startswith(f"managed         {ALIAS}: {ALIAS}-000001")
    assert [r for r in fake.seen if r.method in ("PUT", "DELETE") or "_rollover" in r.path] == []
    assert tally.summary().endswith("2 managed by ILM/ISM (reported only)")
