"""The digest mailed to a real SMTP server (aiosmtpd, started per test on a free loopback port)."""

from __future__ import annotations

import email
import ssl
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.policy import default as default_policy
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, Envelope, LoginPassword

from esbridge.config import load_config
from esbridge.config.notify import SmtpConfig
from esbridge.notify import COLUMNS, STATUS_LEGEND, NotifyError, Row, build_digest, send_digest
from esbridge.notify.digest import Digest
from esbridge.stack.process import free_port
from tests.helpers.paths import EXAMPLE_CONFIG as EXAMPLE

NOW = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
PASSWORD = "s3cret-Pa55"


class Recorder:
    """An aiosmtpd handler keeping every message it accepts."""

    def __init__(self) -> None:
        self.received: list[tuple[str, list[str], EmailMessage]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Envelope) -> str:
        assert envelope.original_content is not None
        assert envelope.mail_from is not None
        message = email.message_from_bytes(envelope.original_content, policy=default_policy)
        assert isinstance(message, EmailMessage)
        self.received.append((envelope.mail_from, list(envelope.rcpt_tos), message))
        return "250 OK"


@contextmanager
def smtp_server(**options: Any) -> Iterator[tuple[Recorder, int]]:
    recorder = Recorder()
    port = free_port()
    controller = Controller(recorder, hostname="127.0.0.1", port=port, **options)
    controller.start()
    try:
        yield recorder, port
    finally:
        controller.stop()


@pytest.fixture
def server() -> Iterator[tuple[Recorder, int]]:
    with smtp_server() as running:
        yield running


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1, which the client is told to trust."""
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    try:
        subprocess.run(
            [
                *("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"),
                *("-subj", "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1"),
                *("-keyout", str(key), "-out", str(cert)),
            ],
            check=True,
            capture_output=True,
        )
    except (OSError, subprocess.CalledProcessError) as exc:
        pytest.skip(f"cannot make a test certificate with openssl: {exc}")
    return cert, key


def server_tls(certificate: tuple[Path, Path]) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(*map(str, certificate))
    return context


def smtp_config(port: int, **options: object) -> SmtpConfig:
    settings: dict[str, object] = {
        "host": "127.0.0.1",
        "port": port,
        "from": "esbridge@localhost",
        "to": ["dcache-admins@localhost", "oncall@localhost"],
        "timeout": 5,
    }
    settings.update(options)
    return SmtpConfig.model_validate(settings)


def digest(count: int = 2, max_rows: int = 300) -> Digest:
    rows = [
        Row(
            pool_domain=f"pool{i}Domain",
            pool_group="cms-disk",
            status="stale" if i else "unresolved",
            type="pool-disabled",
            message="Pool mode changed to disabled(fetch,store,stage,p2p-client,p2p-server)",
            latest=NOW - timedelta(minutes=i),
            subject=f"pool{i}",
            new=i == 0,
        )
        for i in range(count)
    ]
    return build_digest(rows, total=count, max_rows=max_rows, now=NOW, prefix="[esbridge]")


def parts(message: EmailMessage) -> dict[str, str]:
    return {part.get_content_type(): part.get_content() for part in message.iter_parts()}


def test_digest_arrives_as_multipart_text_and_html(server: tuple[Recorder, int]) -> None:
    recorder, port = server

    send_digest(smtp_config(port), digest(1779))

    [(mail_from, rcpt_tos, message)] = recorder.received
    assert mail_from == "esbridge@localhost"
    assert rcpt_tos == ["dcache-admins@localhost", "oncall@localhost"]
    assert message["Subject"] == "[esbridge] 1 new, 0 resolved, 1779 open — dCache issues"
    assert message["From"] == "esbridge@localhost"
    assert message["To"] == "dcache-admins@localhost, oncall@localhost"
    assert message["Message-ID"].endswith("@localhost>")
    assert message.get_content_type() == "multipart/alternative"
    bodies = parts(message)
    assert list(bodies) == ["text/plain", "text/html"]
    for body in bodies.values():
        assert all(column in body for column in COLUMNS)
        assert "showing 300 of 1779 issues" in body
        assert all(status in body and text in body for status, text in STATUS_LEGEND.items())
        assert "pool299Domain" in body
        assert "pool300Domain" not in body
    assert "<th>Date of latest occurrence</th>" in bodies["text/html"]


def test_example_config_reads_the_server_from_the_environment(
    server: tuple[Recorder, int],
) -> None:
    recorder, port = server
    environ = {"ESBRIDGE_SMTP_HOST": "127.0.0.1", "ESBRIDGE_SMTP_PORT": str(port)}
    notifications = load_config(EXAMPLE, environ).notifications
    assert notifications is not None
    assert notifications.smtp is not None

    send_digest(notifications.smtp, digest())

    [(_, rcpt_tos, message)] = recorder.received
    assert rcpt_tos == ["dcache-admins@localhost"]
    assert message["Subject"].startswith("[esbridge] ")


def test_a_closed_port_fails_fast_with_notify_error() -> None:
    port = free_port()

    with pytest.raises(NotifyError, match=f"cannot mail the digest via 127.0.0.1:{port}: "):
        send_digest(smtp_config(port), digest())


def test_a_refused_recipient_set_is_a_notify_error_with_the_server_answer() -> None:
    class Refuser(Recorder):
        async def handle_RCPT(
            self, server: Any, session: Any, envelope: Envelope, address: str, options: Any
        ) -> str:
            return "550 5.1.1 no such mailbox"

    port = free_port()
    controller = Controller(Refuser(), hostname="127.0.0.1", port=port)
    controller.start()
    try:
        with pytest.raises(NotifyError, match="550"):
            send_digest(smtp_config(port), digest())
    finally:
        controller.stop()


def authenticator(
    server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any
) -> AuthResult:
    valid = isinstance(auth_data, LoginPassword) and auth_data == (
        b"esbridge",
        PASSWORD.encode(),
    )
    return AuthResult(success=valid, handled=False)


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
def test_login_is_used_and_a_wrong_password_is_not_echoed() -> None:
    auth = {"authenticator": authenticator, "auth_required": True, "auth_require_tls": False}
    with smtp_server(**auth) as (recorder, port):
        send_digest(smtp_config(port, username="esbridge", password=PASSWORD), digest())
        assert len(recorder.received) == 1

        with pytest.raises(NotifyError, match="535") as failure:
            send_digest(smtp_config(port, username="esbridge", password="wrong-Pa55"), digest())
        assert "wrong-Pa55" not in str(failure.value)

        with pytest.raises(NotifyError, match="530"):
            send_digest(smtp_config(port), digest())
        assert len(recorder.received) == 1


def test_starttls_with_a_site_ca(certificate: tuple[Path, Path]) -> None:
    tls = {"tls_context": server_tls(certificate), "require_starttls": True}
    with smtp_server(**tls) as (recorder, port):
        send_digest(smtp_config(port, security="starttls", ca_certs=certificate[0]), digest())
        assert len(recorder.received) == 1

        with pytest.raises(NotifyError, match="certificate verify failed"):
            send_digest(smtp_config(port, security="starttls"), digest())
        with pytest.raises(NotifyError, match="530"):
            send_digest(smtp_config(port), digest())
        assert len(recorder.received) == 1


def test_starttls_never_falls_back_to_plain_text(server: tuple[Recorder, int]) -> None:
    recorder, port = server

    with pytest.raises(NotifyError, match="STARTTLS extension not supported"):
        send_digest(smtp_config(port, security="starttls"), digest())

    assert recorder.received == []


def test_implicit_tls(certificate: tuple[Path, Path]) -> None:
    with smtp_server(ssl_context=server_tls(certificate)) as (recorder, port):
        send_digest(smtp_config(port, security="ssl", ca_certs=certificate[0]), digest())

    assert len(recorder.received) == 1
