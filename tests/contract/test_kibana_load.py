"""`esbridge kibana load/export` against HTTP servers that behave as the saved-objects APIs of
Kibana and of OpenSearch Dashboards document them.

No Kibana or OpenSearch Dashboards runs here: the servers in this file check each request the
way the product would (path with Kibana's space prefix, each product's own anti-CSRF header,
Authorization, the `overwrite` parameter, a multipart body whose field is `file`, and for
OpenSearch Dashboards the `.ndjson` file name and the migration versions it knows) and answer
with the documented status, success and error bodies. Where each shape comes from:
Kibana's `core/status/server-internal/src/routes/status.ts`, OpenSearch Dashboards'
`src/core/server/status/routes/status.ts` and `legacy_status.ts`, its
`http/lifecycle_handlers.ts` (`osd-xsrf`), `saved_objects/routes/import.ts`,
`import/import_saved_objects.ts` and `migrations/core/document_migrator.ts`.
"""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from operator import itemgetter
from pathlib import Path
from typing import Any, ClassVar
from urllib.error import HTTPError
from urllib.parse import parse_qs, urlsplit
from urllib.request import Request, urlopen

import pytest
from click.testing import CliRunner, Result

from esbridge.cli import main
from esbridge.kibana.objects import render_objects
from tests.helpers.configs import MINIMAL
from tests.helpers.paths import KIBANA_OBJECTS, REPO

OSD_OBJECTS = REPO / "kibana" / "objects-opensearch-dashboards.ndjson"
BASIC = "Basic " + base64.b64encode(b"elastic:s3cret").decode()
API_KEY = "ApiKey VnVhQ2ZHY0JDZGJrUW0tZTVhT3g6dWkybHAyYXhUTm1zeWFrdzl0dk5udw=="


@dataclass
class Seen:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes


NOT_FOUND = {"statusCode": 404, "error": "Not Found", "message": "Not Found"}


@dataclass
class FakeKibana:
    """Kibana 8/9 (7.x where `version` says so): spaces, `kbn-xsrf`, the v8 status format."""

    version: str = "8.15.3"
    redacted: bool = False
    """Answer /api/status as Kibana does a caller without credentials: the overall level only."""
    accepted_auth: frozenset[str] = frozenset({BASIC, API_KEY})
    stored: dict[tuple[str, str, str], dict[str, Any]] = field(default_factory=dict)
    seen: list[Seen] = field(default_factory=list)
    url: str = ""
    xsrf_headers: ClassVar[tuple[str, ...]] = ("kbn-xsrf",)
    bookkeeping: ClassVar[dict[str, str]] = {
        "updated_at": "2026-10-14T08:00:00.000Z",
        "version": "WzEsMV0=",
    }

    def answer(self, request: Seen) -> tuple[int, Any]:
        if request.method == "GET" and request.path == "/api/status" and self.redacted:
            return 200, {"status": {"overall": {"level": "available"}}}
        if request.headers.get("authorization") not in self.accepted_auth:
            return 401, {
                "statusCode": 401,
                "error": "Unauthorized",
                "message": "[security_exception]: unable to authenticate user",
            }
        if request.method == "GET" and request.path == "/api/status":
            return 200, self.status()
        route = self.route(request.path)
        if route is None:
            return 404, NOT_FOUND
        space, api = route
        if request.method == "POST" and not any(h in request.headers for h in self.xsrf_headers):
            return 400, self.missing_xsrf()
        if request.method == "POST" and api == "_import":
            return self.do_import(space, request)
        if request.method == "POST" and api == "_export":
            wanted = json.loads(request.body)["objects"]
            lines = [self.stored[space, o["type"], o["id"]] for o in wanted]
            return 200, "".join(json.dumps(o) + "\n" for o in lines)
        return 404, NOT_FOUND

    def status(self) -> dict[str, Any]:
        """The full body: v8 format (Kibana's default since 8.0), legacy format before 8."""
        build = {"build_hash": "f00d", "build_number": 80523, "build_snapshot": False}
        version = {"number": self.version, **build}
        if int(self.version.split(".")[0]) < 8:
            return {
                "name": "kibana-0",
                "uuid": "5b2de169-2785-441b-ae8c-186a1936b17d",
                "version": version,
                "status": {
                    "overall": {"state": "green", "title": "Green", "since": "2026-10-14T08:00Z"},
                    "statuses": [
                        {"id": f"core:{name}@{self.version}", "state": "green", "message": "ok"}
                        for name in ("elasticsearch", "savedObjects")
                    ],
                },
                "metrics": {},
            }
        available = {"level": "available", "summary": "All services are available"}
        return {
            "name": "kibana-0",
            "uuid": "5b2de169-2785-441b-ae8c-186a1936b17d",
            "version": version | {"build_flavor": "traditional", "build_date": "2026-09-30"},
            "status": {
                "overall": available,
                "core": {"elasticsearch": available, "savedObjects": available},
                "plugins": {"dashboards": available},
            },
            "metrics": {},
        }

    def route(self, path: str) -> tuple[str, str] | None:
        """(space, saved-objects action) of a saved-objects API path."""
        space, found, api = path.partition("/api/saved_objects/")
        if not found or (space and not space.startswith("/s/")):
            return None
        return space.removeprefix("/s/") or "default", api

    def missing_xsrf(self) -> dict[str, Any]:
        return {"statusCode": 400, "error": "Bad Request", "message": "missing kbn-xsrf"}

    def refusal(self, obj: dict[str, Any]) -> str | None:
        """Why the whole import is refused because of this object, if it is."""
        return None

    def do_import(self, space: str, request: Seen) -> tuple[int, Any]:
        content_type = request.headers["content-type"]
        part = message_from_bytes(
            f"Content-Type: {content_type}\r\n\r\n".encode() + request.body, policy=policy.HTTP
        )
        (file_part,) = part.iter_parts()  # type: ignore[attr-defined]
        assert file_part.get_param("name", header="content-disposition") == "file"
        if not (file_part.get_filename() or "").endswith(".ndjson"):
            return 400, {"statusCode": 400, "error": "Bad Request", "message": "Invalid file"}
        objects = [json.loads(line) for line in file_part.get_content().splitlines() if line]
        for obj in objects:
            refused = self.refusal(obj)
            if refused:
                return 422, {"statusCode": 422, "error": "Unprocessable Entity", "message": refused}
        overwrite = request.query.get("overwrite") == ["true"]
        successes, errors = [], []
        for obj in objects:
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
            self.stored[key] = obj | self.bookkeeping
            successes.append(result)
        body: dict[str, Any] = {"success": not errors, "successCount": len(successes)}
        if successes:
            body["successResults"] = successes
        if errors:
            body["errors"] = errors
        return 200, body


OSD_LATEST_MIGRATIONS = {
    "index-pattern": (7, 6, 0),
    "visualization": (7, 10, 0),
    "search": (7, 9, 3),
    "dashboard": (7, 9, 3),
}
"""The last key of each type's `migrations` in OpenSearch Dashboards 2.x/3.x
(`index_pattern_migrations.ts`, `visualization_migrations.ts`, `search_migrations.ts`,
`dashboard_migrations.ts`)."""


@dataclass
class FakeOpenSearchDashboards(FakeKibana):
    """OpenSearch Dashboards 2.x/3.x: no spaces, `osd-xsrf` (or `osd-version`), the legacy
    status format it answers by default, and the document migrator's version check."""

    version: str = "2.19.1"
    xsrf_headers: ClassVar[tuple[str, ...]] = ("osd-xsrf", "osd-version")
    bookkeeping: ClassVar[dict[str, str]] = {
        "updated_at": "2026-10-14T08:00:00.000Z",
        "version": "WzQsMV0=",
    }

    def status(self) -> dict[str, Any]:
        green = {"state": "green", "uiColor": "secondary", "icon": "success"}
        since = "2026-10-14T08:00:00.000Z"
        services = ["core:opensearch", "core:savedObjects", "plugin:dashboard"]
        return {
            "name": "opensearch-dashboards-0",
            "uuid": "0f2d5b3e-7d0e-4c85-9a5e-2d3c4b5a6f70",
            "version": {
                "number": self.version,
                "build_hash": "c0ffee",
                "build_number": 8231,
                "build_snapshot": False,
            },
            "status": {
                "overall": green | {"title": "Green", "nickname": "Looking good", "since": since},
                "statuses": [
                    {"id": f"{service}@{self.version}", "message": "ok", "since": since} | green
                    for service in services
                ],
            },
            "metrics": {},
        }

    def route(self, path: str) -> tuple[str, str] | None:
        prefix, found, api = path.partition("/api/saved_objects/")
        return ("default", api) if found and not prefix else None

    def missing_xsrf(self) -> dict[str, Any]:
        return {
            "statusCode": 400,
            "error": "Bad Request",
            "message": "Request must contain a osd-xsrf header.",
        }

    def refusal(self, obj: dict[str, Any]) -> str | None:
        """The migrator's Boom.badData for a document from a newer version (the import route
        answers it as 422); import stamps an object without `migrationVersion` with `{}`."""
        for prop, stamped in (obj.get("migrationVersion") or {}).items():
            latest = OSD_LATEST_MIGRATIONS.get(prop)
            if latest is None or tuple(int(p) for p in stamped.split(".")) > latest:
                known = ".".join(map(str, latest)) if latest else "undefined"
                return (
                    f'Document "{obj["id"]}" has property "{prop}" which belongs to a more recent'
                    f" version of OpenSearch Dashboards [{stamped}]. The last known version is"
                    f" [{known}]"
                )
        return None


def serve(fake: FakeKibana) -> Iterator[FakeKibana]:
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


@pytest.fixture
def kibana() -> Iterator[FakeKibana]:
    yield from serve(FakeKibana())


@pytest.fixture
def osd() -> Iterator[FakeKibana]:
    yield from serve(FakeOpenSearchDashboards())


@pytest.fixture(params=["kibana", "opensearch-dashboards"])
def either(request: pytest.FixtureRequest) -> Iterator[FakeKibana]:
    """Each product in turn, behind the same kind of URL."""
    fake = FakeKibana() if request.param == "kibana" else FakeOpenSearchDashboards()
    yield from serve(fake)


def run(*args: str) -> Result:
    return CliRunner().invoke(main, ["kibana", *args], catch_exceptions=False)


def load(kibana: FakeKibana, *extra: str) -> Result:
    return run("load", "--url", kibana.url, "--user", "elastic", "--password", "s3cret", *extra)


def load_as(fake: FakeKibana, *extra: str) -> Result:
    """`load` as a site would run it against either product: the same command line."""
    return run("load", "--url", fake.url, "--api-key", API_KEY.removeprefix("ApiKey "), *extra)


def stored_objects(fake: FakeKibana) -> list[dict[str, Any]]:
    """What the server holds, without its own bookkeeping, in the order it was imported."""
    return [
        {k: v for k, v in obj.items() if k not in fake.bookkeeping} for obj in fake.stored.values()
    ]


def lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


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
    assert "osd-xsrf" not in upload.headers
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
    assert "Kibana or OpenSearch Dashboards answered 401" in result.output
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


def test_the_same_load_command_finds_each_product_and_sends_it_its_own_bundle(
    either: FakeKibana,
) -> None:
    kibana_found = not isinstance(either, FakeOpenSearchDashboards)
    bundle, header, other = (
        (KIBANA_OBJECTS, "kbn-xsrf", "osd-xsrf")
        if kibana_found
        else (OSD_OBJECTS, "osd-xsrf", "kbn-xsrf")
    )

    result = load_as(either, "--overwrite")

    assert result.exit_code == 0, result.output
    status, upload = either.seen
    assert (status.method, status.path) == ("GET", "/api/status")
    assert not {"kbn-xsrf", "osd-xsrf"} & set(status.headers)
    assert (upload.method, upload.path) == ("POST", "/api/saved_objects/_import")
    assert upload.headers[header] and other not in upload.headers
    assert stored_objects(either) == lines(bundle)
    name = "Kibana 8.15.3" if kibana_found else "OpenSearch Dashboards 2.19.1"
    assert f"{name}: importing {len(EXPECTED)} objects" in result.output


def test_stand_in_refuses_a_write_without_osd_xsrf_even_with_kibanas_header(
    osd: FakeKibana,
) -> None:
    request = Request(
        f"{osd.url}/api/saved_objects/_export",
        data=b'{"objects": []}',
        headers={"Authorization": API_KEY, "kbn-xsrf": "true", "Content-Type": "application/json"},
        method="POST",
    )

    with pytest.raises(HTTPError) as refused:
        urlopen(request)

    assert refused.value.code == 400
    assert json.loads(refused.value.read())["message"] == (
        "Request must contain a osd-xsrf header."
    )


def test_osd_import_answer_is_reported_object_by_object_and_conflicts_fail(
    osd: FakeKibana,
) -> None:
    assert load_as(osd).exit_code == 0

    result = load_as(osd)

    assert result.exit_code == 1
    assert "index-pattern esbridge-billing: error: conflict" in result.output
    assert "dashboard esbridge-dashboard-pools: error: conflict" in result.output
    assert f"{len(EXPECTED)} of {len(EXPECTED)} objects failed" in result.output


def test_osd_refuses_objects_from_a_newer_kibana_in_one_line(
    osd: FakeKibana, tmp_path: Path
) -> None:
    """What a Kibana 8.5 export carries; --file is sent as it is, with OSD's header."""
    objects = lines(OSD_OBJECTS)
    (chart,) = (o for o in objects if o["id"] == "esbridge-transfers-protocols")
    chart["migrationVersion"] = {"visualization": "8.5.0"}
    newer = tmp_path / "from-kibana-8.ndjson"
    newer.write_text("".join(json.dumps(o) + "\n" for o in objects), encoding="utf-8")

    result = load_as(osd, "--file", str(newer))

    assert result.exit_code == 1
    assert "OpenSearch Dashboards answered 422 to POST" in result.output
    assert "belongs to a more recent version of OpenSearch Dashboards [8.5.0]" in result.output
    assert "The last known version is [7.10.0]" in result.output
    assert osd.stored == {}


def test_load_accepts_opensearch_dashboards_3(osd: FakeKibana) -> None:
    osd.version = "3.3.0"

    result = load_as(osd)

    assert result.exit_code == 0, result.output
    assert "OpenSearch Dashboards 3.3.0: importing" in result.output


def test_load_refuses_opensearch_dashboards_1_before_importing(osd: FakeKibana) -> None:
    osd.version = "1.3.19"

    result = load_as(osd)

    assert result.exit_code == 1
    assert "OpenSearch Dashboards 1.3.19 is not supported" in result.output
    assert "need OpenSearch Dashboards 2.0 to 3.x" in result.output
    assert [r.path for r in osd.seen] == ["/api/status"]


def test_a_space_is_a_usage_error_against_opensearch_dashboards(osd: FakeKibana) -> None:
    result = load_as(osd, "--space", "ops")

    assert result.exit_code == 2
    assert "OpenSearch Dashboards has no spaces: --space ops is for Kibana only" in result.output
    assert [r.path for r in osd.seen] == ["/api/status"]


def test_a_status_without_core_services_says_credentials_may_be_missing(
    kibana: FakeKibana,
) -> None:
    kibana.redacted = True

    result = run("load", "--url", kibana.url)

    assert result.exit_code == 1
    assert "named neither Kibana's nor OpenSearch Dashboards' core services" in result.output
    assert "--user/--password or --api-key" in result.output
    assert [r.path for r in kibana.seen] == ["/api/status"]


def test_export_from_opensearch_dashboards_gives_back_its_bundle(
    osd: FakeKibana, tmp_path: Path
) -> None:
    assert load_as(osd).exit_code == 0
    output = tmp_path / "exported.ndjson"

    result = run(
        "export", "--url", osd.url, "--api-key", API_KEY.removeprefix("ApiKey "), "-o", str(output)
    )

    assert result.exit_code == 0, result.output
    request = osd.seen[-1]
    assert request.path == "/api/saved_objects/_export"
    assert request.headers["osd-xsrf"] and "kbn-xsrf" not in request.headers
    assert lines(output) == sorted(lines(OSD_OBJECTS), key=itemgetter("type", "id"))


def test_two_configs_load_side_by_side_without_overwriting_each_other(
    kibana: FakeKibana, tmp_path: Path
) -> None:
    site2 = tmp_path / "site2.yml"
    site2.write_text(
        MINIMAL.replace("index: dcache-billing", "index: site2-billing")
        + "template_prefix: site2\ndeadletter:\n  index: site2-deadletter\n"
    )

    first = load(kibana, "--overwrite")
    second = load(kibana, "-c", str(site2))

    assert first.exit_code == 0 and second.exit_code == 0, second.output
    stored = {(t, i) for _, t, i in kibana.stored}
    assert stored >= EXPECTED, "the second config overwrote none of the shipped objects"
    theirs = stored - EXPECTED
    assert ("index-pattern", "site2-billing") in theirs
    assert all(i.startswith("site2-") for _, i in theirs)
    views = [o for o in stored_objects(kibana) if o["id"] == "site2-billing"]
    assert views[0]["attributes"]["title"] == "site2-billing-*"
