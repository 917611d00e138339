"""What a request to the search cluster can end in, as a few types callers can catch.

Every answer that is not a success becomes one of these, whichever engine sent it: the HTTP
status, the engine's `error.type` (e.g. `version_conflict_engine_exception`) and its reason
are kept, so a caller can decide (a 409 is a replay, a 429 a reason to wait) and a person
sees one line naming the request and the cluster's reason. They are `EsbridgeError`s because
an unexpected one reaching the command line must print as that line, not as a traceback.
"""

from __future__ import annotations

from typing import Any

from esbridge.errors import EsbridgeError

_REASON_LIMIT = 300


class ClusterError(EsbridgeError):
    """A request the cluster did not carry out."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        error_type: str | None = None,
        reason: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.error_type = error_type
        self.reason = reason


class ClusterUnavailableError(ClusterError):
    """No HTTP answer at all: connection refused or reset, timeout, TLS failure."""


class TlsFailureError(ClusterUnavailableError):
    """The TLS handshake failed (an unknown CA, a wrong host name, plain HTTP on a TLS port).

    Unavailable like any other failure to connect, so a running sender keeps retrying (a
    certificate may be renewed under it); at start-up waiting would not help, so callers that
    connect first stop at once and say to check the CA.
    """


class RequestRejectedError(ClusterError):
    """A 4xx answer: the request is wrong for this cluster or its data; resending won't help."""


class NotFoundError(RequestRejectedError):
    """404: no such index, document, alias, template or policy."""


class ConflictError(RequestRejectedError):
    """409: `op_type=create` on an existing id, or `if_seq_no` no longer current."""


class AuthError(RequestRejectedError):
    """401 or 403: the credentials are wrong or lack a privilege."""


class ServerError(ClusterError):
    """5xx, or 429 (too many requests): the cluster could not do it now; worth retrying."""


class UnsupportedClusterError(ClusterError):
    """The cluster is not an engine and version esbridge speaks."""


def error_of(body: Any) -> tuple[str | None, str | None]:
    """`(error.type, error.reason)` from an error body; the root cause's reason when the top
    one is only a wrapper ("failed to execute script" hides "script_lang not supported")."""
    if not isinstance(body, dict):
        text = str(body).strip() if body else None
        return None, text[:_REASON_LIMIT] if text else None
    error = body.get("error")
    if isinstance(error, str):
        return None, error[:_REASON_LIMIT]
    if not isinstance(error, dict):
        return None, None
    error_type = error.get("type")
    reason = error.get("reason")
    causes = error.get("root_cause")
    if isinstance(causes, list) and causes and isinstance(causes[0], dict):
        root = causes[0].get("reason")
        if root and root != reason:
            reason = f"{reason} ({root})" if reason else root
    return (
        str(error_type) if error_type else None,
        str(reason)[:_REASON_LIMIT] if reason else None,
    )


def from_answer(request: str, status: int, body: Any) -> ClusterError:
    """The exception for a non-success answer to `request` (`METHOD /path`)."""
    error_type, reason = error_of(body)
    detail = ": ".join(part for part in (error_type, reason) if part)
    message = f"{request}: HTTP {status}" + (f" {detail}" if detail else "")
    kind: type[ClusterError]
    if status == 404:
        kind = NotFoundError
    elif status == 409:
        kind = ConflictError
    elif status in (401, 403):
        kind = AuthError
    elif status == 429 or status >= 500:
        kind = ServerError
    else:
        kind = RequestRejectedError
    return kind(message, status=status, error_type=error_type, reason=reason)
