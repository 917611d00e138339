"""The parser contract: a pure function from a decoded Kafka record to an Elasticsearch document.

Parsers never see bytes or Kafka metadata; decoding, provenance and `event.original` are the
pipeline's job, so that every producer gets them the same way.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

Document = dict[str, Any]


class ParseError(Exception):
    """A record that can never become a document; it goes to dead letters with this reason.

    `error_type` is one of the dead-letter `error.type` values in docs/fields.md.
    """

    def __init__(self, error_type: str, reason: str) -> None:
        super().__init__(reason)
        self.error_type = error_type
        self.reason = reason


@dataclass(frozen=True)
class ParseContext:
    """What a parser may know besides the record itself."""

    producer: str
    log_timezone: ZoneInfo = field(default_factory=lambda: ZoneInfo("UTC"))
    dcache_instance: str | None = None


Parser = Callable[[dict[str, Any], ParseContext], Document]
