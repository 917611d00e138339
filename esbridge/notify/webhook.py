"""Posting the digest as JSON to a webhook (chat bridges, ticket systems), with urllib only.

Redirects are refused rather than followed: urllib would turn the POST into a GET and carry
the secret headers to wherever the redirect points. Error messages name only the scheme, host
and port, because webhook URLs often carry a token in their path.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Mapping
from http.client import HTTPException, HTTPMessage
from typing import IO
from urllib.parse import urlsplit

from esbridge.config.notify import WebhookConfig
from esbridge.notify.digest import Digest, Row
from esbridge.notify.errors import NotifyError
from esbridge.utc import format_utc


def digest_payload(digest: Digest) -> dict[str, object]:
    """The JSON body for `digest`: its subject, the total, and the rows shown."""
    return {
        "subject": digest.subject,
        "total": digest.total,
        "issues": [_row(row) for row in digest.rows],
    }


def post_digest(config: WebhookConfig, payload: Mapping[str, object]) -> None:
    """POST `payload` as JSON to `config.url`; raises NotifyError unless the answer is 2xx."""
    post_json(config, payload, "the digest")


def post_json(config: WebhookConfig, payload: Mapping[str, object], what: str) -> None:
    """POST `payload` (`what`, for errors) as JSON to `config.url`; NotifyError unless 2xx.

    Also what `esbridge react` posts its webhook actions with, so both share these rules."""
    headers = {name: value.get_secret_value() for name, value in config.headers.items()}
    request = urllib.request.Request(  # noqa: S310 - WebhookConfig allows http(s) URLs only
        config.url,
        data=json.dumps(payload).encode(),
        headers={"User-Agent": "esbridge", **headers, "Content-Type": "application/json"},
        method="POST",
    )
    opener = urllib.request.build_opener(_RefuseRedirects)
    try:
        with opener.open(request, timeout=config.timeout) as response:
            response.read()
    except urllib.error.HTTPError as exc:
        exc.close()
        raise _error(config, what, f"it answered HTTP {exc.code} {exc.reason}") from None
    except urllib.error.URLError as exc:
        raise _error(config, what, str(exc.reason)) from None
    except (HTTPException, OSError) as exc:
        raise _error(config, what, str(exc) or type(exc).__name__) from None


class _RefuseRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(
        self,
        req: urllib.request.Request,
        fp: IO[bytes],
        code: int,
        msg: str,
        headers: HTTPMessage,
        newurl: str,
    ) -> None:
        """Returning None makes urllib raise the 3xx as an HTTPError."""
        return None


def _row(row: Row) -> dict[str, object]:
    return {
        "pool_domain": row.pool_domain,
        "pool_group": row.pool_group,
        "status": row.status,
        "type": row.type,
        "message": row.message,
        "latest": format_utc(row.latest),
        "subject": row.subject,
        "new": row.new,
    }


def _error(config: WebhookConfig, what: str, reason: str) -> NotifyError:
    parts = urlsplit(config.url)
    return NotifyError(f"cannot post {what} to {parts.scheme}://{parts.netloc}: {reason}")
