"""Kibana's saved-objects import and export APIs, over the standard library's HTTP client.

Only what `esbridge kibana load/export` needs: the version check (GET /api/status), import
(multipart `file`, `kbn-xsrf`, `overwrite`) and export, each under `/s/<space>` for a space.
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

from esbridge.errors import EsbridgeError

MIN_VERSION = (8, 0)
MAX_MAJOR = 9
"""Objects are rendered without a migration version: any Kibana 8.x or 9.x migrates them."""


class KibanaError(EsbridgeError):
    """Kibana refused or could not be reached; the message says what to fix."""


@dataclass(frozen=True)
class ObjectResult:
    type: str
    id: str
    error: str | None
    """None when imported; else Kibana's error type (`conflict`, `missing_references`, ...)."""


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
        self._space_prefix = f"/s/{space}" if space and space != "default" else ""
        self._auth = auth or Auth()
        self._timeout = timeout
        self._ssl = ssl_context

    def version(self) -> str:
        """Kibana's version number, refusing one whose import would not accept our objects."""
        status = json.loads(self._request("GET", "/api/status", space=False))
        number = str(status.get("version", {}).get("number", ""))
        parts = tuple(int(p) for p in number.partition("-")[0].split(".")[:2] if p.isdigit())
        if len(parts) < 2 or parts < MIN_VERSION or parts[0] > MAX_MAJOR:
            raise KibanaError(
                f"Kibana {number or '(unknown version)'} is not supported: esbridge's objects "
                f"need Kibana {MIN_VERSION[0]}.{MIN_VERSION[1]} to {MAX_MAJOR}.x"
            )
        return number

    def import_objects(self, ndjson: str, *, overwrite: bool) -> list[ObjectResult]:
        """One result per object Kibana reports on, successes and errors."""
        boundary = f"esbridge-{uuid.uuid4().hex}"
        body = (
            f"--{boundary}\r\n"
            'Content-Disposition: form-data; name="file"; filename="esbridge.ndjson"\r\n'
            "Content-Type: application/ndjson\r\n\r\n"
            f"{ndjson}\r\n--{boundary}--\r\n"
        ).encode()
        query = "?overwrite=true" if overwrite else ""
        answer = json.loads(
            self._request(
                "POST",
                f"/api/saved_objects/_import{query}",
                body,
                f"multipart/form-data; boundary={boundary}",
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
        return self._request("POST", "/api/saved_objects/_export", body, "application/json")

    def _request(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        content_type: str | None = None,
        *,
        space: bool = True,
    ) -> str:
        url = self._root + (self._space_prefix if space else "") + path
        request = urllib.request.Request(url, data=body, method=method)  # noqa: S310 - http(s) URL from the operator
        request.add_header("kbn-xsrf", "esbridge")
        if content_type:
            request.add_header("Content-Type", content_type)
        authorization = self._auth.header()
        if authorization:
            request.add_header("Authorization", authorization)
        try:
            with urllib.request.urlopen(  # noqa: S310
                request, timeout=self._timeout, context=self._ssl
            ) as response:
                return str(response.read().decode("utf-8"))
        except urllib.error.HTTPError as error:
            raise KibanaError(_http_error_text(method, url, error)) from None
        except (urllib.error.URLError, OSError) as error:
            raise KibanaError(f"cannot reach Kibana at {self._root}: {error}") from None


def _error_result(error: dict[str, Any]) -> ObjectResult:
    detail = error.get("error", {})
    kind = str(detail.get("type", "unknown"))
    if kind == "missing_references":
        missing = ", ".join(f"{r['type']}/{r['id']}" for r in detail.get("references", []))
        kind = f"missing_references ({missing})"
    return ObjectResult(str(error.get("type")), str(error.get("id")), kind)


def _http_error_text(method: str, url: str, error: urllib.error.HTTPError) -> str:
    try:
        message = json.loads(error.read()).get("message", "")
    except (ValueError, AttributeError):
        message = ""
    hint = {
        401: "check --user/--password or --api-key",
        403: "the user lacks the saved-objects privilege for this space",
        404: "no such space, or not a Kibana URL",
    }.get(error.code, "")
    parts = [f"Kibana answered {error.code} to {method} {url}", message, hint]
    return ": ".join(p for p in parts if p)
