"""Parsers: one pure function per producer from a decoded record to an Elasticsearch document."""

from esbridge.transforms.access import parse_access
from esbridge.transforms.base import (
    DeadLetterReason,
    Document,
    ParseContext,
    ParseError,
    Parser,
    ParserName,
)
from esbridge.transforms.billing import parse_billing
from esbridge.transforms.logs import parse_logs
from esbridge.transforms.poolinfo import parse_poolinfo

PARSERS: dict[ParserName, Parser] = {
    "billing": parse_billing,
    "logs": parse_logs,
    "access": parse_access,
    "poolinfo": parse_poolinfo,
}

__all__ = [
    "PARSERS",
    "DeadLetterReason",
    "Document",
    "ParseContext",
    "ParseError",
    "Parser",
    "ParserName",
]
