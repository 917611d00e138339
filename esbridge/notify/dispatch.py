"""One digest to every configured channel, as a single success or failure.

A digest counts as delivered only when every channel took it: the issues it lists are then
marked notified. When one channel fails, the whole digest is retried next cycle, so a working
channel may receive it again: a duplicate on one channel beats a silent gap on another, and
per-channel bookkeeping would split an issue's notified state in two.
"""

from __future__ import annotations

from esbridge.config.notify import NotificationsConfig
from esbridge.notify.digest import Digest
from esbridge.notify.errors import NotifyError
from esbridge.notify.smtp import send_digest
from esbridge.notify.webhook import digest_payload, post_digest


class Notifier:
    """The channels of a `notifications:` section."""

    def __init__(self, config: NotificationsConfig) -> None:
        self.config = config

    def send(self, digest: Digest) -> None:
        """Deliver `digest` to every channel; NotifyError naming each failure if any failed."""
        failures: list[str] = []
        if self.config.smtp is not None:
            try:
                send_digest(self.config.smtp, digest)
            except NotifyError as exc:
                failures.append(str(exc))
        if self.config.webhook is not None:
            try:
                post_digest(self.config.webhook, digest_payload(digest))
            except NotifyError as exc:
                failures.append(str(exc))
        if failures:
            raise NotifyError("; ".join(failures))
