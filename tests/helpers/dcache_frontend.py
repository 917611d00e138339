"""A stand-in for dCache's frontend (it cannot run here): an HTTP(S) server in a thread that
answers `/api/v1/pools` and `/api/v1/pools/{pool}/usage` with bodies shaped as dCache's own
Jackson serialisers write them (field names of PoolInfo/PoolData/PoolDataDetails/CellData/
PoolCostData/PoolSpaceData/RepositoryData; reference: ../shared/reference/dcache-and-peers.md
section 1.3), plus the answers the poller must survive: 401, 500, a slow pool, `{}`.

The shapes:
* `new_server_usage`: dCache 11.1+ (single objects NON_NULL: nulls left out, zeros and
  false kept), with `Last-Modified` (dCache 12).
* `old_server_usage`: before 11.1: nulls *and* zero/false values left out, no Last-Modified.
* `{}`: the frontend has no cached entry for the pool yet.
"""

from __future__ import annotations

import base64
import json
import ssl
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import unquote

TiB = 1 << 40
GiB = 1 << 30
LAST_MODIFIED = "Tue, 21 Jul 2026 10:00:00 GMT"


def jackson(value: Any) -> bytes:
    """Compact JSON, as Jackson's default ObjectMapper writes it."""
    return json.dumps(value, separators=(",", ":")).encode()


def pool_entry(name: str, groups: list[str], links: list[str]) -> dict[str, Any]:
    """An element of `GET /api/v1/pools` (`providers/selection/Pool.java`)."""
    return {"name": name, "groups": groups, "links": links}


def new_server_usage(
    name: str,
    *,
    domain: str,
    mode: str = "enabled",
    status: tuple[int, str] | None = None,
    total: int = 30 * TiB,
    free: int = 6 * TiB,
    precious: int = 0,
    removable: int = 20 * TiB,
    groups: tuple[str, ...] = ("default",),
    tags: dict[str, str] | None = None,
    addresses: tuple[str, ...] = ("192.0.2.10",),
    state: str = "OPEN",
) -> dict[str, Any]:
    """`GET /api/v1/pools/{pool}/usage` of a current server: every non-null field."""
    details: dict[str, Any] = {
        "label": "Pool",
        "baseDir": f"/srv/dcache/{name}",
        "poolVersion": "11.2.5",
        "poolMode": mode,
        "errorCode": 0,
        "inetAddresses": list(addresses),
        "tagMap": tags if tags is not None else {"hostname": f"{name}-host"},
        "breakEven": 0.7,
        "largeFileStore": "NONE",
        "p2pFileMode": "CACHED",
        "hotFileReplicationEnabled": False,
        "removalReported": True,
        "hsmLoadSuppressed": False,
        "pingHeartbeatInSecs": 30,
        "hybridInventory": False,
        "costData": {
            "label": "Cost",
            "defaultQueueName": "regular",
            "moverCostFactor": 0.5,
            "mover": {
                "name": "regular",
                "active": 3,
                "maxActive": 100,
                "queued": 0,
                "readers": 2,
                "writers": 1,
            },
            "p2p": {
                "name": "p2p",
                "active": 0,
                "maxActive": 10,
                "queued": 0,
                "readers": 0,
                "writers": 0,
            },
            "space": {
                "total": total,
                "free": free,
                "precious": precious,
                "removable": removable,
                "lru": 0,
                "gap": 4 * GiB,
                "breakEven": 0.7,
            },
        },
    }
    if status is not None:
        details["poolStatusCode"], details["poolStatusMessage"] = status
    used = total - free
    return {
        "poolData": {
            "poolGroups": list(groups),
            "links": [],
            "cellData": {
                "label": "Cell Info",
                "cellName": name,
                "cellType": "Generic",
                "cellClass": "PoolV4",
                "domainName": domain,
                "creationTime": 1784620800000,
                "state": "A",
                "eventQueueSize": 0,
                "threadCount": 87,
                "expectedQueueTime": 0,
                "version": "11.2.5",
                "release": "11.2.5",
                "revision": "2f1c0a7",
                "roundTripTime": 2,
            },
            "detailsData": details,
            "repositoryData": {
                "label": "Repository",
                "state": state,
                "files": 1204,
                "totalDiskSpace": "30T",  # DiskSpace.toUnitString(): never a number to read
                "freeDiskSpace": free,
                "usedDiskSpace": used,
                "preciousDiskSpace": precious,
                "removableDiskSpace": removable,
                "usedDiskSpaceRatio": used / total,
                "preciousDiskSpaceRatio": precious / total,
                "removableDiskSpaceRatio": removable / total,
                "fileSystemSize": 32 * TiB,
                "fileSystemFree": 8 * TiB,
                "fileSystemRatioFreeToTotal": 0.25,
                "fileSystemMaxSpace": 32 * TiB,
                "gap": 4 * GiB,
                "lru": 0,
            },
            "sweeperData": {"label": "Sweeper", "lruTimestamp": 1784620800000},
        }
    }


def without_defaults(value: Any) -> Any:
    """What a server before dCache 11.1 wrote: null, 0, 0.0 and false values left out."""
    if isinstance(value, dict):
        return {
            key: without_defaults(item)
            for key, item in value.items()
            if item is not None and item is not False and item != 0
        }
    if isinstance(value, list):
        return [without_defaults(item) for item in value]
    return value


def old_server_usage(name: str, **options: Any) -> dict[str, Any]:
    """`GET /api/v1/pools/{pool}/usage` of a server before 11.1."""
    return without_defaults(new_server_usage(name, **options))


@dataclass
class Route:
    """One path's answer: status, JSON body, headers, and how long to take."""

    body: Any
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0


@dataclass
class Frontend:
    """The running stand-in: change `routes` between cycles; `requests` records each request's
    path (unquoted) and Authorization header."""

    url: str
    routes: dict[str, Route]
    requests: list[tuple[str, str | None]]
    login: Callable[[str | None, bool], bool]


def pools_answer(entries: list[dict[str, Any]], *, last_modified: bool = True) -> Route:
    return Route(entries, headers={"Last-Modified": LAST_MODIFIED} if last_modified else {})


def basic_login(username: str, password: str) -> Callable[[str | None, bool], bool]:
    expected = "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()
    return lambda authorization, _has_cert: authorization == expected


@contextmanager
def dcache_frontend(
    routes: dict[str, Route],
    *,
    tls: ssl.SSLContext | None = None,
    login: Callable[[str | None, bool], bool] = lambda _auth, _cert: True,
) -> Iterator[Frontend]:
    """The stand-in on a free loopback port; `login(authorization, has_client_cert)` decides
    401s, as dCache's AuthenticationHandler would."""
    requests: list[tuple[str, str | None]] = []
    state = Frontend("", routes, requests, login)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            path = unquote(self.path.split("?", 1)[0])
            authorization = self.headers.get("Authorization")
            requests.append((path, authorization))
            has_cert = isinstance(self.connection, ssl.SSLSocket) and bool(
                self.connection.getpeercert()
            )
            if not state.login(authorization, has_cert):
                self._answer(Route({"errors": [{"message": "Unauthorized"}]}, status=401))
                return
            route = state.routes.get(path)
            if route is None:
                self._answer(Route({"errors": [{"message": "Not Found"}]}, status=404))
                return
            if route.delay:
                time.sleep(route.delay)
            self._answer(route)

        def _answer(self, route: Route) -> None:
            body = jackson(route.body)
            try:
                self.send_response(route.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                for name, value in route.headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(body)
            except (BrokenPipeError, ConnectionResetError, ssl.SSLError):
                pass  # the poller gave up on a slow answer

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    scheme = "http"
    if tls is not None:
        server.socket = tls.wrap_socket(server.socket, server_side=True)
        scheme = "https"
    state.url = f"{scheme}://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


def usage_path(pool: str) -> str:
    return f"/api/v1/pools/{pool}/usage"


def make_certificate(folder: Path, name: str) -> tuple[Path, Path]:
    """A self-signed certificate and key for 127.0.0.1 (openssl), as `(cert, key)`."""
    cert, key = folder / f"{name}.pem", folder / f"{name}.key"
    subprocess.run(
        [
            *("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"),
            *("-subj", f"/CN={name}", "-addext", "subjectAltName=IP:127.0.0.1"),
            *("-keyout", str(key), "-out", str(cert)),
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


def server_tls(cert: tuple[Path, Path], client_ca: Path | None = None) -> ssl.SSLContext:
    """The frontend's TLS; with `client_ca`, client certificates signed by it are asked for
    (and accepted when missing, as dCache's `accept-client-cert` without `require`)."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(str(cert[0]), str(cert[1]))
    if client_ca is not None:
        context.load_verify_locations(str(client_ca))
        context.verify_mode = ssl.CERT_OPTIONAL
    return context
