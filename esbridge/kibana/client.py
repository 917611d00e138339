"""The saved-objects import and export APIs of Kibana and OpenSearch Dashboards, over the
standard library's HTTP client.

Only what `esbridge kibana load/export` needs: which product and version answer
(GET /api/status), import (multipart `file`, `overwrite`) and export. The two products share
these APIs (OpenSearch Dashboards is a fork of Kibana 7.10.2) but not their anti-CSRF header
(`kbn-xsrf` against `osd-xsrf`: each rejects a write without its own) nor spaces (`/s/<space>`
is Kibana's only).
"""

from __future__ import annotations

import base64
import json
import ssl
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass
from typing import Any

from esbridge.errors import EsbridgeError, UsageError
from esbridge.kibana.objects import Flavour

PRODUCT_NAMES: dict[Flavour, str] = {
    "kibana": "Kibana",
    "opensearch-dashboards": "OpenSearch Dashboards",
}
XSRF_HEADERS: dict[Flavour, str] = {"kibana": "kbn-xsrf", "opensearch-dashboards": "osd-xsrf"}
SUPPORTED: dict[Flavour, tuple[tuple[int, int], int]] = {
    "kibana": ((8, 0), 9),
    "opensearch-dashboards": ((2, 0), 3),
}
"""(lowest version, highest major) each bundle is made for: Kibana's objects carry no migration
version, so any Kibana 8.x or 9.x migrates them; OpenSearch Dashboards' carry the 7.10-era
versions that 2.x and 3.x both know."""
_EITHER = "Kibana or OpenSearch Dashboards"


class KibanaError(EsbridgeError):
    """Kibana or OpenSearch Dashboards refused or could not be reached; the message says what
    to fix."""


@dataclass(frozen=True)
class Product:
    flavour: Flavour
    version: str

    @property
    def name(self) -> str:
        return PRODUCT_NAMES[self.flavour]


def detect_product(status: dict[str, Any]) -> Product:
    """Which product wrote this GET /api/status body, by the core service it reports on.

    Both answer `name` and `version.number`, and a version number says nothing of the
    product, but their core status does: Kibana's names `elasticsearch` (under `status.core`
    in its default format since 8.0, as `core:elasticsearch@<version>` in the legacy one),
    OpenSearch Dashboards' names `opensearch` (`status.statuses[].id` is
    `core:opensearch@<version>` in its default, legacy format; `status.core.opensearch` with
    `?v8format=true`).
    """
    body = status.get("status")
    body = body if isinstance(body, dict) else {}
    core = body.get("core")
    names = set(core) if isinstance(core, dict) else set()
    statuses = body.get("statuses")
    for entry in statuses if isinstance(statuses, list) else []:
        service = str(entry.get("id", "")) if isinstance(entry, dict) else ""
        if service.startswith("core:"):
            names.add(service.removeprefix("core:").partition("@")[0])
    version = status.get("version")
    number = str(version.get("number", "")) if isinstance(version, dict) else ""
    if "opensearch" in names:
        return Product("opensearch-dashboards", number)
    if "elasticsearch" in names:
        return Product("kibana", number)
    raise KibanaError(
        "GET /api/status named neither Kibana's nor OpenSearch Dashboards' core services "
        "(without credentials Kibana shows only its overall level): "
        "check --url and pass --user/--password or --api-key"
    )


def check_supported(product: Product) -> None:
    """Refuse a version whose import would not accept or would misread our objects."""
    lowest, highest_major = SUPPORTED[product.flavour]
    number = product.version
    parts = tuple(int(p) for p in number.partition("-")[0].split(".")[:2] if p.isdigit())
    if len(parts) < 2 or parts < lowest or parts[0] > highest_major:
        raise KibanaError(
            f"{product.name} {number or '(unknown version)'} is not supported: esbridge's "
            f"objects need {product.name} {lowest[0]}.{lowest[1]} to {highest_major}.x"
        )


@dataclass(frozen=True)
class ObjectResult:
    type: str
    id: str
    error: str | None
    """None when imported; else the product's error type (`conflict`, `missing_references`,
    ...)."""


@dataclass(frozen=True)
class Auth:
    username: str | None = None
    password: str | None = None
    api_key: str | None = None
    """The encoded key (base64 of `id:key`), as Kibana's API-key UI shows it."""

    def header(self) -> str | None:
        if self.api_key:
            return f"ApiKey {self.api_key}"
        if self.username is not None:
            token = f"{self.username}:{self.password or ''}".encode()
            return "Basic " + base64.b64encode(token).decode()
        return None


class KibanaClient:
    def __init__(
        self,
        url: str,
        *,
        space: str | None = None,
        auth: Auth | None = None,
        timeout: float = 30.0,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self._root = url.rstrip("/")
        self._space = space if space and space != "default" else None
        self._auth = auth or Auth()
        self._timeout = timeout
        self._ssl = ssl_context
        self._product: Product | None = None

    def product(self) -> Product:
        """The product and version at the URL, asked once; refuses an unsupported version,
        and a space where the product has none, before anything is written."""
        if self._product is None:
            try:
                status = json.loads(self._send("GET", "/api/status"))
            except ValueError:
                raise KibanaError(
                    f"{self._root}/api/status did not answer JSON: not a {_EITHER} URL"
                ) from None
            product = detect_product(status if isinstance(status, dict) else {})
            check_supported(product)
            if self._space and product.flavour != "kibana":
                raise UsageError(
                    f"{product.name} has no spaces: --space {self._space} is for Kibana only"
                )
            self._product = product
        return self._product

    def import_objects(self, ndjson: str, *, overwrite: bool) -> list[ObjectResult]:
        """One result per object the product reports on, successes and errors."""
        boundary = f"esbridge-{uuid.uuid4().hex}"
        body = (
            f"--{boundary}\r\n"
            'Content-Disposition: form-data; name="file"; filename="esbridge.ndjson"\r\n'
            "Content-Type: application/ndjson\r\n\r\n"
            f"{ndjson}\r\n--{boundary}--\r\n"
        ).encode()
        query = "?overwrite=true" if overwrite else ""
        answer = json.loads(
            self._saved_objects(
                f"_import{query}", body, f"multipart/form-data; boundary={boundary}"
            )
        )
        results = [ObjectResult(r["type"], r["id"], None) for r in answer.get("successResults", [])]
        results += [_error_result(e) for e in answer.get("errors", [])]
        return results

    def export_objects(self, objects: list[tuple[str, str]]) -> str:
        """NDJSON of these (type, id) objects, without the trailing export summary line."""
        request = {
            "objects": [{"type": t, "id": i} for t, i in objects],
            "excludeExportDetails": True,
            "includeReferencesDeep": False,
        }
        body = json.dumps(request).encode()
        return self._saved_objects("_export", body, "application/json")

    def _saved_objects(self, action: str, body: bytes, content_type: str) -> str:
        """POST to the saved-objects API of the product found, in its space, with its header."""
        product = self.product()
        prefix = f"/s/{self._space}" if self._space else ""
        headers = {XSRF_HEADERS[product.flavour]: "esbridge", "Content-Type": content_type}
        return self._send("POST", f"{prefix}/api/saved_objects/{action}", body, headers)

    def _send(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> str:
        url = self._root + path
        request = urllib.request.Request(url, data=body, method=method, headers=headers or {})  # noqa: S310 - http(s) URL from the operator
        authorization = self._auth.header()
        if authorization:
            request.add_header("Authorization", authorization)
        who = self._product.name if self._product else _EITHER
        try:
            with urllib.request.urlopen(  # noqa: S310
                request, timeout=self._timeout, context=self._ssl
            ) as response:
                return str(response.read().decode("utf-8"))
        except urllib.error.HTTPError as error:
            raise KibanaError(_http_error_text(who, method, url, error)) from None
        except (urllib.error.URLError, OSError) as error:
            raise KibanaError(f"cannot reach {who} at {self._root}: {error}") from None


def _error_result(error: dict[str, Any]) -> ObjectResult:
    detail = error.get("error", {})
    kind = str(detail.get("type", "unknown"))
    if kind == "missing_references":
        missing = ", ".join(f"{r['type']}/{r['id']}" for r in detail.get("references", []))
        kind = f"missing_references ({missing})"
    return ObjectResult(str(error.get("type")), str(error.get("id")), kind)


def _http_error_text(who: str, method: str, url: str, error: urllib.error.HTTPError) -> str:
    try:
        message = json.loads(error.read()).get("message", "")
    except (ValueError, AttributeError):
        message = ""
    hint = {
        401: "check --user/--password or --api-key",
        403: "the user lacks the saved-objects privilege (in this space, on Kibana)",
        404: f"no such space, or not a {who} URL",
    }.get(error.code, "")
    parts = [f"{who} answered {error.code} to {method} {url}", message, hint]
    return ": ".join(p for p in parts if p)
