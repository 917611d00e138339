"""dCache's frontend over HTTP(S): the two requests a poll cycle makes, and every way they fail
turned into a `FrontendError` with a kind a person can act on.

The one place with I/O towards dCache; `cycle.py` takes anything with `list_pools` and `usage`,
so the rules get unit tests with a fake.
"""

from __future__ import annotations

import base64
import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, Protocol
from urllib.parse import quote

import httpx
import orjson

from esbridge.config.poll import PollConfig
from esbridge.errors import EsbridgeError

API = "/api/v1"


class FrontendError(EsbridgeError):
    """A request to the frontend failed; `kind` groups failures for the one log line per kind:
    `unreachable`, `tls`, `timeout`, `auth` (401/403), `not_found`, `http <status>`,
    `bad_response` (not the JSON dCache writes), `token` (the token file)."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


@dataclass(frozen=True)
class Answer:
    """A decoded JSON body and the frontend's `Last-Modified` (when its cache was refreshed),
    None where the server does not send it (dCache before 12)."""

    body: Any
    last_modified: datetime | None


class Frontend(Protocol):
    """What a poll cycle asks dCache."""

    def list_pools(self) -> Answer: ...

    def usage(self, pool: str) -> Answer: ...


def last_modified(headers: Mapping[str, str]) -> datetime | None:
    """`Last-Modified` as an aware UTC time; None when absent or not an HTTP date."""
    value = headers.get("last-modified")
    if not value:
        return None
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return moment.astimezone(UTC) if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def tls_context(config: PollConfig) -> ssl.SSLContext:
    """Verification as configured (system CAs, or `ca_certs`), plus the client certificate."""
    context = ssl.create_default_context(
        cafile=str(config.ca_certs) if config.ca_certs is not None else None
    )
    if not config.verify_certs:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    if config.certfile is not None:
        keyfile = str(config.keyfile) if config.keyfile is not None else None
        try:
            context.load_cert_chain(str(config.certfile), keyfile)
        except (ssl.SSLError, OSError) as exc:
            raise EsbridgeError(f"poll.certfile/keyfile cannot be used: {exc}") from None
    return context


class HttpFrontend:
    """dCache's REST API at `config.url`, with the configured login; one pooled connection
    per concurrent usage request."""

    def __init__(self, config: PollConfig, transport: httpx.BaseTransport | None = None) -> None:
        self._config = config
        self._base = config.url.rstrip("/") + API
        limits = httpx.Limits(
            max_connections=config.concurrency, max_keepalive_connections=config.concurrency
        )
        self._client = httpx.Client(
            verify=tls_context(config),
            timeout=httpx.Timeout(config.timeout),
            limits=limits,
            headers={"Accept": "application/json"},
            transport=transport,
            follow_redirects=False,
        )

    def list_pools(self) -> Answer:
        """`GET /api/v1/pools`: a list of `{name, groups, links}` (names checked)."""
        answer = self._get("/pools", self._headers())
        if not isinstance(answer.body, list) or not all(
            isinstance(entry, dict) and isinstance(entry.get("name"), str) and entry["name"]
            for entry in answer.body
        ):
            raise FrontendError(
                "bad_response", f"GET {self._base}/pools: not a list of pools with names"
            )
        return answer

    def usage(self, pool: str) -> Answer:
        """`GET /api/v1/pools/{pool}/usage`: `{"poolData": {...}}`, or `{}` if not cached."""
        path = f"/pools/{quote(pool, safe='')}/usage"
        answer = self._get(path, self._headers())
        if not isinstance(answer.body, dict):
            raise FrontendError("bad_response", f"GET {self._base}{path}: not a JSON object")
        return answer

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> HttpFrontend:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def _headers(self) -> dict[str, str]:
        """The login of this request: the token file is read each time (tokens rotate)."""
        config = self._config
        if config.username is not None and config.password is not None:
            pair = f"{config.username}:{config.password.get_secret_value()}".encode()
            return {"Authorization": "Basic " + base64.b64encode(pair).decode("ascii")}
        if config.token_file is not None:
            try:
                token = config.token_file.read_text(encoding="utf-8").strip()
            except (OSError, UnicodeDecodeError) as exc:
                raise FrontendError("token", f"poll.token_file cannot be read: {exc}") from None
            if not token or any(ord(c) < 33 or ord(c) == 127 for c in token):
                raise FrontendError("token", "poll.token_file is empty or not a single token")
            return {"Authorization": f"Bearer {token}"}
        return {}

    def _get(self, path: str, headers: dict[str, str]) -> Answer:
        url = self._base + path
        try:
            response = self._client.get(url, headers=headers)
        except httpx.TimeoutException:
            raise FrontendError(
                "timeout", f"GET {url}: no answer within poll.timeout {self._config.timeout:g}s"
            ) from None
        except httpx.TransportError as exc:
            raise _transport_error(url, exc) from None
        status = response.status_code
        if status in (401, 403):
            raise FrontendError(
                "auth",
                f"GET {url}: HTTP {status} {response.reason_phrase}: the frontend refused "
                f"{_login(self._config)}",
            )
        if status == 404:
            raise FrontendError("not_found", f"GET {url}: HTTP 404 (no such pool any more?)")
        if status != 200:
            raise FrontendError(f"http {status}", f"GET {url}: HTTP {status} {_detail(response)}")
        try:
            body = orjson.loads(response.content)
        except orjson.JSONDecodeError:
            raise FrontendError("bad_response", f"GET {url}: the answer is not JSON") from None
        return Answer(body, last_modified(response.headers))


def _transport_error(url: str, exc: httpx.TransportError) -> FrontendError:
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, ssl.SSLError):
            return FrontendError(
                "tls",
                f"GET {url}: TLS failed: {cause}; check poll.ca_certs (the CA that signed the "
                "frontend's certificate)",
            )
        cause = cause.__cause__ or cause.__context__
    return FrontendError(
        "unreachable",
        f"GET {url}: {type(exc).__name__}: {exc}; check poll.url and that the frontend runs",
    )


def _login(config: PollConfig) -> str:
    """How we logged in, for the error line: never the secret."""
    kind = config.auth_kind
    if kind == "basic":
        return f"user {config.username} (poll.username/password)"
    if kind == "bearer":
        return f"the token in {config.token_file} (poll.token_file)"
    if kind == "x509":
        return f"the certificate {config.certfile} (poll.certfile)"
    return "an anonymous request (configure poll.username/password, token_file or certfile)"


def _detail(response: httpx.Response) -> str:
    """The reason phrase, and the start of dCache's own error text when it sent one."""
    text = response.text.strip().replace("\n", " ")[:200]
    return f"{response.reason_phrase}: {text}" if text else response.reason_phrase
