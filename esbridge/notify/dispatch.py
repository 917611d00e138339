"""One digest to every configured channel, as a single success or failure.

A digest counts as delivered only when every channel took it: the issues it lists are then
marked notified. When one channel fails, the whole digest is retried next cycle, so a working
channel may receive it again: a duplicate on one channel beats a silent gap on another, and
per-channel bookkeeping would split an issue's notified state in two.
"""

from __future__ import annotations

from esbridge.config.notify import NotificationsConfig
from esbridge.notify.channels import CHANNELS
from esbridge.notify.digest import Digest
from esbridge.notify.errors import NotifyError


class Notifier:
    """The channels of a `notifications:` section, in registry order."""

    def __init__(self, config: NotificationsConfig) -> None:
        self.config = config
        self.channels = [
            (CHANNELS[name], section)
            for name in CHANNELS
            if (section := getattr(config, name)) is not None
        ]

    def send(self, digest: Digest) -> None:
        """Deliver `digest` to every channel; NotifyError naming each failure if any failed."""
        failures: list[str] = []
        for deliver, section in self.channels:
            try:
                deliver(section, digest)
            except NotifyError as exc:
                failures.append(str(exc))
        if failures:
            raise NotifyError("; ".join(failures))
