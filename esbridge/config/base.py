"""What every config section shares: the strict base model, located errors, common checks.

Its own module so that the section modules (models, notify, watch) import it rather than each
other.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, TypeVar
from urllib.parse import urlsplit

from pydantic import AfterValidator, BaseModel, ConfigDict

Loc = tuple[str | int, ...]
T = TypeVar("T", bound=tuple[object, ...])


class LocatedError(ValueError):
    """Several problems found by one validator, each at a key path relative to the model."""

    def __init__(self, errors: Sequence[tuple[Loc, str]]) -> None:
        self.errors = list(errors)
        super().__init__("; ".join(f"{'.'.join(map(str, loc))}: {msg}" for loc, msg in errors))


class Section(BaseModel):
    """Frozen, and unknown keys are errors: a typo must fail, not fall back to a default."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def non_empty(value: T) -> T:
    # An after-validator rather than min_length: that would also fire when items fail.
    if not value:
        raise ValueError("must list at least one")
    return value


def http_url(value: str, credentials_go: str) -> str:
    """An http(s) URL with a host and a valid port, without credentials (those would leak)."""
    parts = urlsplit(value)
    try:
        parts.port  # noqa: B018 - raises ValueError when the port is out of range
    except ValueError:
        raise ValueError("the URL's port is not valid") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("expected an http:// or https:// URL with a host")
    if parts.username is not None or parts.password is not None:
        raise ValueError(f"put credentials in {credentials_go}, not in the URL")
    return value


_TOPIC = re.compile(r"[A-Za-z0-9._-]{1,249}")


def kafka_topic(value: str) -> str:
    """A name Kafka accepts for a topic (shared by producers' topics and poll.topic)."""
    if _TOPIC.fullmatch(value) is None or value in (".", ".."):
        raise ValueError("expected a Kafka topic name: 1-249 of A-Z, a-z, 0-9, '.', '_', '-'")
    return value


def readable_file(value: Path) -> Path:
    """A certificate or key file the clients will open: checked at load, so a missing one is a
    config error at its key, not a TLS failure at the first request. Relative paths are
    relative to the working directory, as the clients read them."""
    if not value.exists():
        raise ValueError("no such file")
    if not value.is_file():
        raise ValueError("not a file")
    if not os.access(value, os.R_OK):
        raise ValueError("the file cannot be read (permissions)")
    return value


ReadableFile = Annotated[Path, AfterValidator(readable_file)]
