"""The `notifications:` section: the example, defaults, and errors reported at their key."""

from __future__ import annotations

from pathlib import Path

import pytest

from esbridge.config import ConfigError, load_config
from esbridge.config.notify import NotificationsConfig
from tests.helpers.configs import MINIMAL as BASE
from tests.helpers.paths import EXAMPLE_CONFIG as EXAMPLE

MINIMAL = BASE + "notifications:\n"
# Line 10 is `notifications:`; the section's keys start on line 11.

SMTP = """\
  smtp:
    host: mail.example.org
    from: esbridge@example.org
    to: [dcache-admins@example.org]
"""


def load(tmp_path: Path, section: str) -> NotificationsConfig:
    path = tmp_path / "esbridge.yml"
    path.write_text(MINIMAL + section, encoding="utf-8")
    notifications = load_config(path, {}).notifications
    assert notifications is not None
    return notifications


def load_error(tmp_path: Path, section: str) -> str:
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, section)
    return str(caught.value).replace(f"{tmp_path / 'esbridge.yml'}:", "")


def test_example_mails_a_local_server_whose_address_comes_from_the_environment() -> None:
    notifications = load_config(EXAMPLE, {}).notifications
    assert notifications is not None
    smtp = notifications.smtp
    assert smtp is not None
    assert (smtp.host, smtp.port, smtp.security) == ("127.0.0.1", 8025, "none")
    assert (smtp.sender, smtp.to) == ("esbridge@localhost", ("dcache-admins@localhost",))

    environ = {"ESBRIDGE_SMTP_HOST": "mail.example.org", "ESBRIDGE_SMTP_PORT": "587"}
    notifications = load_config(EXAMPLE, environ).notifications
    assert notifications is not None
    smtp = notifications.smtp
    assert smtp is not None
    assert (smtp.host, smtp.port) == ("mail.example.org", 587)


def test_defaults(tmp_path: Path) -> None:
    notifications = load(tmp_path, SMTP)
    smtp = notifications.smtp
    assert smtp is not None

    assert (notifications.subject_prefix, notifications.max_rows) == ("[esbridge]", 300)
    assert notifications.webhook is None
    assert (smtp.port, smtp.security, smtp.username, smtp.timeout) == (25, "none", None, 30.0)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ('  subject_prefix: "a\\nBcc: x@y"\n', "11: notifications.subject_prefix: must not"),
        ("  max_rows: 0\n", "11: notifications.max_rows: Input should be greater than"),
    ],
)
def test_bad_digest_settings_are_reported_at_their_key(
    tmp_path: Path, extra: str, message: str
) -> None:
    assert load_error(tmp_path, extra + SMTP).startswith(message)


def test_password_is_secret_and_required_with_username(tmp_path: Path) -> None:
    smtp = load(tmp_path, SMTP + "    username: esbridge\n    password: hunter2\n").smtp
    assert smtp is not None
    assert smtp.password is not None
    assert "hunter2" not in repr(smtp)
    assert smtp.password.get_secret_value() == "hunter2"

    assert load_error(tmp_path, SMTP + "    username: esbridge\n") == (
        "11: notifications.smtp.password: required with username"
    )
    assert load_error(tmp_path, SMTP + "    password: hunter2\n") == (
        "11: notifications.smtp.username: required with password"
    )


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ("    port: 70000\n", "15: notifications.smtp.port: Input should be less than 65536"),
        ("    security: tls\n", "15: notifications.smtp.security: Input should be 'none', "),
        ("    ca_certs: {file}\n", "15: notifications.smtp.ca_certs: only used with security"),
        (
            "    security: starttls\n    ca_certs: /nonexistent/ca.pem\n",
            "16: notifications.smtp.ca_certs: no such file",
        ),
        ("    security: ssl\n    ca_certs: {dir}\n", "16: notifications.smtp.ca_certs: not a file"),
    ],
)
def test_bad_smtp_values_are_reported_at_their_key(
    tmp_path: Path, extra: str, message: str
) -> None:
    extra = extra.format(file=tmp_path / "esbridge.yml", dir=tmp_path)
    assert load_error(tmp_path, SMTP + extra).startswith(message)


@pytest.mark.parametrize(
    ("to", "message"),
    [
        ("[]", "14: notifications.smtp.to: must list at least one"),
        ("[admins]", "14: notifications.smtp.to[0]: expected a mail address"),
        ('["a@b, c@d"]', "14: notifications.smtp.to[0]: expected a mail address"),
        ('["Admins <a@b>"]', "14: notifications.smtp.to[0]: expected a mail address"),
    ],
)
def test_recipients_are_plain_addresses(tmp_path: Path, to: str, message: str) -> None:
    section = SMTP.replace("[dcache-admins@example.org]", to)
    assert load_error(tmp_path, section).startswith(message)


def test_from_is_required_and_named_as_in_yaml(tmp_path: Path) -> None:
    section = SMTP.replace("    from: esbridge@example.org\n", "")
    assert load_error(tmp_path, section) == "11: notifications.smtp.from: required key is missing"


def test_webhook_headers_are_secret(tmp_path: Path) -> None:
    section = "  webhook:\n    url: https://chat.example.org/hook\n    headers:\n"
    webhook = load(tmp_path, section + "      Authorization: Bearer t0ken\n").webhook
    assert webhook is not None

    assert webhook.headers["Authorization"].get_secret_value() == "Bearer t0ken"
    assert "t0ken" not in repr(webhook)
    assert webhook.timeout == 10.0


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ("  webhook:\n    url: ftp://x/hook\n", "expected an http:// or https:// URL"),
        ("  webhook:\n    url: https://u:p@x/hook\n", "put credentials in webhook.headers"),
        ("  webhook:\n    url: https://x/\n    headers: {'Bad Name': v}\n", "a header name"),
        ("  webhook:\n    url: https://x/\n    headers: {Content-Type: x}\n", "always application"),
        ('  webhook:\n    url: https://x/\n    headers: {X-A: "a\\r\\nX-B: b"}\n', "control"),
    ],
)
def test_bad_webhooks_are_rejected(tmp_path: Path, section: str, message: str) -> None:
    assert message in load_error(tmp_path, section)


def test_an_empty_notifications_section_names_the_channels(tmp_path: Path) -> None:
    assert load_error(tmp_path, "  smtp: null\n") == (
        "10: notifications: configure smtp, webhook or both (or leave notifications out)"
    )
