"""Dead-letter documents: every message that cannot be indexed is kept, with its reason."""

from __future__ import annotations

import base64
from typing import Any

from esbridge.ingest.message import Message
from esbridge.utc import now_utc


def payload_fields(value: bytes | None, max_bytes: int) -> dict[str, Any]:
    """The raw payload, as text when it is UTF-8 and as base64 otherwise, capped at `max_bytes`."""
    raw = value or b""
    kept = raw[:max_bytes]
    fields: dict[str, Any] = {"payload_size": len(raw), "truncated": len(raw) > max_bytes}
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        fields["payload_base64"] = base64.b64encode(kept).decode("ascii")
    else:
        fields["payload"] = kept.decode("utf-8", errors="ignore")  # a cut may split a character
    return fields


def dead_letter(
    message: Message,
    producer: str,
    error_type: str,
    reason: str,
    payload_max_bytes: int,
    digest: str,
) -> dict[str, Any]:
    """`event.hash` as on documents: a 409 on a dead letter is a replay only when it matches."""
    return {
        "@timestamp": now_utc(),
        "producer": producer,
        "error": {"type": error_type, "message": reason},
        "event": {"hash": digest},
        "deadletter": payload_fields(message.value, payload_max_bytes),
        "kafka": {"topic": message.topic, "partition": message.partition, "offset": message.offset},
    }
