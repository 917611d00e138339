"""Telling people about issues: the digest `esbridge watch` builds each cycle, and its channels.

`build_digest` renders; `send_digest` (SMTP) and `post_digest` (webhook) deliver, raising
`NotifyError` on any failure so the caller can leave issues un-notified and retry next cycle.
"""

from esbridge.notify.digest import COLUMNS, STATUS_LEGEND, Digest, Row, build_digest
from esbridge.notify.errors import NotifyError
from esbridge.notify.smtp import send_digest
from esbridge.notify.webhook import digest_payload, post_digest

__all__ = [
    "COLUMNS",
    "STATUS_LEGEND",
    "Digest",
    "NotifyError",
    "Row",
    "build_digest",
    "digest_payload",
    "post_digest",
    "send_digest",
]
