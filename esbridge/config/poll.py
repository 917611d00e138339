"""The `poll:` section: where `esbridge poll` reads pool snapshots from (dCache's frontend) and
the topic it publishes them to.

dCache's frontend takes one identity per request: HTTP Basic, a bearer token or an X.509
client certificate (the certificate only "if no other authentication information is
available"), so the three are alternatives here and naming two is an error, not a guess.
"""

from __future__ import annotations

from typing import Annotated, Self
from urllib.parse import urlsplit

from pydantic import AfterValidator, Field, SecretStr, model_validator

from esbridge.config.base import (
    Loc,
    LocatedError,
    ReadableFile,
    Section,
    http_url,
    kafka_topic,
)
from esbridge.config.units import Seconds

AUTH_KINDS = {
    "basic": ("username", "password"),
    "bearer": ("token_file",),
    "x509": ("certfile", "keyfile"),
}
"""Each way of logging in to the frontend, by the keys that select it."""


def _frontend_url(value: str) -> str:
    return http_url(value, "poll.username/password, poll.token_file or poll.certfile")


class PollConfig(Section):
    """dCache's frontend (`https://<host>:3880`; the poller appends `/api/v1/...`), how to log
    in, how often and how hard to ask, and where the snapshots go."""

    url: Annotated[str, AfterValidator(_frontend_url)]
    username: Annotated[str, Field(min_length=1)] | None = None
    password: SecretStr | None = None
    token_file: ReadableFile | None = None
    """A bearer token (OIDC, SciToken, macaroon), read again every cycle so a token refreshed
    on disk (e.g. by oidc-agent) is picked up without a restart."""
    certfile: ReadableFile | None = None
    keyfile: ReadableFile | None = None
    ca_certs: ReadableFile | None = None
    verify_certs: bool = True
    interval: Seconds = 900.0
    timeout: Seconds = 30.0
    """Per request: connect, read and write each; a pool slower than this is published with
    `usage_error: timeout`."""
    concurrency: Annotated[int, Field(ge=1, le=64)] = 8
    """Usage requests in flight at once."""
    topic: Annotated[str, AfterValidator(kafka_topic)] = "dcache-poolinfo"

    @model_validator(mode="after")
    def _check_auth(self) -> Self:
        """One login kind, complete; and no certificate settings that would be ignored."""
        errors: list[tuple[Loc, str]] = []
        if self.username is not None and self.password is None:
            errors.append((("password",), "required with username"))
        if self.password is not None and self.username is None:
            errors.append((("username",), "required with password"))
        if self.keyfile is not None and self.certfile is None:
            errors.append((("keyfile",), "only used with certfile"))
        chosen = self._kinds()
        if len(chosen) > 1:
            second = next(k for k in AUTH_KINDS[chosen[1]] if getattr(self, k) is not None)
            message = "use one of username/password, token_file or certfile/keyfile, not several"
            errors.append(((second,), message))
        if urlsplit(self.url).scheme != "https":
            for key in ("certfile", "ca_certs"):
                if getattr(self, key) is not None:
                    errors.append(((key,), "only used with an https:// url"))
        if not self.verify_certs and self.ca_certs is not None:
            errors.append((("ca_certs",), "not used with verify_certs: false"))
        if errors:
            raise LocatedError(errors)
        return self

    def _kinds(self) -> list[str]:
        return [
            kind
            for kind, keys in AUTH_KINDS.items()
            if any(getattr(self, key) is not None for key in keys)
        ]

    @property
    def auth_kind(self) -> str | None:
        """`basic`, `bearer`, `x509`, or None (anonymous, where the site allows it)."""
        kinds = self._kinds()
        return kinds[0] if kinds else None
