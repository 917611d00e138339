"""Helpers of the watcher's integration tests: a watched site, its log lines, a mail recorder."""

from __future__ import annotations

import email
import json
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.policy import default as default_policy
from typing import Any
from zoneinfo import ZoneInfo

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import Envelope

from esbridge.notify.dispatch import Notifier
from esbridge.watch.engine import Watcher
from tests.helpers.paths import EXAMPLE_RULES as RULES
from tests.helpers.sites import Site

BERLIN = ZoneInfo("Europe/Berlin")
T0 = datetime(2025, 3, 1, 10, 0, tzinfo=UTC)


class Mailbox:
    """An aiosmtpd handler keeping every message it accepts."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Envelope) -> str:
        assert envelope.original_content is not None
        message = email.message_from_bytes(envelope.original_content, policy=default_policy)
        assert isinstance(message, EmailMessage)
        self.messages.append(message)
        return "250 OK"

    def texts(self) -> list[str]:
        """The text/plain part of every message."""
        parts = [m.get_body(preferencelist=("plain",)) for m in self.messages]
        return [part.get_content() for part in parts if part is not None]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@contextmanager
def smtp_server() -> Iterator[tuple[Mailbox, int]]:
    mailbox, port = Mailbox(), free_port()
    controller = Controller(mailbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield mailbox, port
    finally:
        controller.stop()


def watch_section(smtp_port: int, **overrides: str) -> str:
    """`notifications:` and `watch:` for a site, with clocks short enough to step through."""
    settings = {
        "notification_delay": "60s",
        "finalize_after": "120s",
        "delete_after": "60s",
        "stale_after": "1d",
        "lag": "2m",
        "since": "1h",
        **overrides,
    }
    clocks = "".join(f"  {key}: {value}\n" for key, value in settings.items())
    return f"""
notifications:
  smtp:
    host: 127.0.0.1
    port: {smtp_port}
    from: esbridge@localhost
    to: [admins@localhost]
    timeout: 5s
watch:
  rules_dir: {RULES}
  issues_index: "{{site}}-issues"
{clocks}"""


def rules(text: str) -> str:
    """Inline `watch.rules`, appended after the example rule pack of `rules_dir`."""
    return "  rules:\n" + "".join(f"    {line}\n" for line in text.strip().splitlines())


def watcher(site: Site, **options: Any) -> Watcher:
    assert site.config.notifications is not None
    return Watcher(site.config, site.cluster, Notifier(site.config.notifications), **options)


def log_line(at: datetime, pool: str, text: str, *, cell: str | None = None) -> bytes:
    """A Filebeat event of a pool domain's log line, as journald ships it (see samples)."""
    local = at.astimezone(BERLIN)
    host = pool.split("-", maxsplit=1)[0] if "-" in pool else f"{pool}-host"
    domain = f"{pool}Domain"
    event = {
        "@timestamp": at.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "message": f"{local:%d %b %Y %H:%M:%S} ({cell or pool}) [] {text}",
        "host": {"hostname": host, "name": host},
        "input": {"type": "journald"},
        "systemd": {"unit": f"dcache@{domain}.service", "transport": "stdout"},
        "syslog": {"identifier": f"dcache@{domain}", "pid": 4021, "priority": 6},
        "agent": {"type": "filebeat"},
    }
    return json.dumps(event).encode()


def snapshot(at: datetime, pool: str, groups: list[str], host: str) -> bytes:
    """A pool snapshot as `esbridge poll` publishes it (the keys the watcher reads)."""
    record = {
        "@timestamp": at.isoformat().replace("+00:00", "Z"),
        "pool": pool,
        "groups": groups,
        "host": host,
        "mode": "enabled",
        "enabled": True,
    }
    return json.dumps(record).encode()


def issues(site: Site) -> dict[str, dict[str, Any]]:
    """Every issue document of the site, by id."""
    index = f"{site.name}-issues"
    if not site.cluster.index_exists(index):
        return {}
    return {doc.pop("_id"): doc for doc in site.docs(index) if "status" in doc}


def feed(site: Site, lines: list[bytes], snapshots: tuple[bytes, ...] = ()) -> None:
    """Lines (and pool snapshots) through Kafka and ingest, then visible to searches."""
    site.produce("logs", lines)
    if snapshots:
        site.produce("poolinfo", list(snapshots))
    code, _ = site.ingest()
    assert code == 0
    site.count(site.index("logs"))


def seconds(n: float) -> timedelta:
    return timedelta(seconds=n)
