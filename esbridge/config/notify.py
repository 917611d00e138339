"""The `notifications:` section: where `esbridge watch` sends its digest of new and changed issues.

Kept apart from `models.py` (which imports it) so the notifiers need only these models. Values
that end up in mail headers or HTTP headers are checked here, at load, so a stray newline
cannot inject a header at send time.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Annotated, Literal, Self

from pydantic import (
    AfterValidator,
    BeforeValidator,
    Field,
    SecretStr,
    model_validator,
)

from esbridge.config.base import LocatedError, ReadableFile, Section, http_url, non_empty
from esbridge.config.units import Seconds

_Section = Section


_ADDRESS = re.compile(r"[^\s@<>,;:\"()\[\]\\]+@[^\s@<>,;:\"()\[\]\\]+")


def _address(value: str) -> str:
    # Deliberately plain: a bare local@domain (localhost allowed), no display names.
    if _ADDRESS.fullmatch(value) is None:
        raise ValueError("expected a mail address such as dcache-admins@example.org")
    return value


def _no_control(value: str) -> str:
    if any(ord(char) < 32 or ord(char) == 127 for char in value):
        raise ValueError("must not contain control characters such as newlines")
    return value


def _http_url(value: str) -> str:
    return http_url(value, "webhook.headers (e.g. Authorization)")


_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")


def _headers(value: object) -> dict[str, SecretStr]:
    # Checks the whole mapping itself: pydantic would report a bad value at a path holding its
    # header name, and neither names nor values belong in error text.
    if not isinstance(value, Mapping):
        raise ValueError("expected a mapping of header names to values")
    headers: dict[str, SecretStr] = {}
    for name, text in value.items():
        if not isinstance(name, str) or _TOKEN.fullmatch(name) is None:
            raise ValueError("a header name may only use letters, digits and !#$%&'*+-.^_`|~")
        if name.lower() == "content-type":
            raise ValueError("Content-Type is always application/json and cannot be set")
        if not isinstance(text, str):
            raise ValueError("header values must be strings (quote numbers)")
        headers[name] = SecretStr(_no_control(text))
    return headers


Address = Annotated[str, AfterValidator(_address)]
Port = Annotated[int, Field(gt=0, lt=65536)]


class SmtpConfig(_Section):
    """The mail relay and the envelope; `from` in YAML is `sender` in Python."""

    host: Annotated[str, Field(min_length=1), AfterValidator(_no_control)]
    port: Port = 25
    security: Literal["none", "starttls", "ssl"] = "none"
    """`starttls` fails rather than falling back to plain text when the server does not offer it."""
    ca_certs: ReadableFile | None = None
    """A CA bundle for starttls/ssl, for relays with a site-internal CA."""
    username: Annotated[str, Field(min_length=1)] | None = None
    password: SecretStr | None = None
    sender: Annotated[Address, Field(alias="from")]
    to: Annotated[tuple[Address, ...], AfterValidator(non_empty)]
    timeout: Seconds = 30.0

    @model_validator(mode="after")
    def _check_combinations(self) -> Self:
        """Settings that the chosen security or login would silently ignore are errors."""
        # LocatedError lets the loader point at the offending key, not the whole section.
        if self.username is not None and self.password is None:
            raise LocatedError([(("password",), "required with username")])
        if self.password is not None and self.username is None:
            raise LocatedError([(("username",), "required with password")])
        if self.ca_certs is not None and self.security == "none":
            raise LocatedError([(("ca_certs",), "only used with security starttls or ssl")])
        return self


class WebhookConfig(_Section):
    """A JSON POST of each digest; header values are secrets (tokens go there)."""

    url: Annotated[str, AfterValidator(_http_url)]
    headers: Annotated[Mapping[str, SecretStr], BeforeValidator(_headers)] = {}
    timeout: Seconds = 10.0


class NotificationsConfig(_Section):
    """The digest's shape and its channels: each cycle's one digest goes to every channel."""

    subject_prefix: Annotated[str, AfterValidator(_no_control)] = "[esbridge]"
    max_rows: Annotated[int, Field(ge=1)] = 300
    """Rows in the table, most severe first; the digest always states the total."""
    smtp: SmtpConfig | None = None
    webhook: WebhookConfig | None = None

    @model_validator(mode="after")
    def _check_channels(self) -> Self:
        if self.smtp is None and self.webhook is None:
            raise ValueError("configure smtp, webhook or both (or leave notifications out)")
        return self
