"""The parser contract: a pure function from a decoded Kafka record to an Elasticsearch document.

Parsers never see bytes or Kafka metadata; decoding, provenance and `event.original` are the
pipeline's job, so that every producer gets them the same way.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal
from zoneinfo import ZoneInfo

from esbridge.config.models import ParserName

Document = dict[str, Any]


DeadLetterReason = Literal[
    "json_decode",
    "not_utf8",
    "not_an_object",
    "missing_field",
    "bad_timestamp",
    "parse_error",
    "oversize",
    "rejected",
    "too_large",
    "id_collision",
]
"""Every dead letter's `error.type` (documented in docs/fields.md; checked by
tests/unit/test_registries.py): why a message did not become its document. The last three are
given by ingest's sender, from Elasticsearch's answer, not by a parser."""


class ParseError(Exception):
    """A record that can never become a document; it goes to dead letters with this reason."""

    def __init__(self, error_type: DeadLetterReason, reason: str) -> None:
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

__all__ = ["DeadLetterReason", "Document", "ParseContext", "ParseError", "Parser", "ParserName"]
