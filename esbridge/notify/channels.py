"""The notification channels, one registry: a channel is a module with a deliver function and
one entry here, named like its section under `notifications:` (tests/unit/test_registries.py
fails when a config section has no channel or a channel no config section)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from esbridge.notify.digest import Digest
from esbridge.notify.smtp import send_digest
from esbridge.notify.webhook import digest_payload, post_digest


def _webhook(config: Any, digest: Digest) -> None:
    post_digest(config, digest_payload(digest))


Deliver = Callable[[Any, Digest], None]
"""Sends one digest through a channel configured by its section; raises NotifyError."""

CHANNELS: dict[str, Deliver] = {
    "smtp": send_digest,
    "webhook": _webhook,
}
