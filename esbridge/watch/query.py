"""Search bodies for a rule's occurrences and resolving signatures in one time window.

Everything is a `bool` filter (no scoring: the watcher wants every hit, not the best ones), and
each clause asks what `match.py` checks in Python. Hits come oldest first, so the lifecycle sees
a pool disabled before it sees it enabled again.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from esbridge.config.watch import RuleConfig, SignatureConfig
from esbridge.utc import format_utc
from esbridge.watch.match import POOL_FIELD, source_field


def rule_query(rule: RuleConfig, start: datetime, end: datetime) -> dict[str, Any]:
    """The body finding `rule`'s occurrences with `start <= @timestamp < end`."""
    terms = [{"term": {field: value}} for field, value in rule.match.filters.items()]
    return _body(rule, [*_window(start, end), _signature(rule.match), *terms])


def resolve_query(rule: RuleConfig, start: datetime, end: datetime) -> dict[str, Any] | None:
    """The body finding `rule`'s resolving signature in `[start, end)`; None if it has none."""
    if rule.resolve is None:
        return None
    return _body(rule, [*_window(start, end), _signature(rule.resolve)])


def _body(rule: RuleConfig, filters: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "query": {"bool": {"filter": filters}},
        "sort": [{"@timestamp": {"order": "asc"}}],
        "_source": _source_fields(rule),
    }


def _window(start: datetime, end: datetime) -> list[dict[str, Any]]:
    window = {"gte": _utc(start), "lt": _utc(end), "format": "strict_date_optional_time"}
    return [{"range": {"@timestamp": window}}]


def _signature(signature: SignatureConfig) -> dict[str, Any]:
    field = signature.field_name
    if signature.regex is not None:
        # NONE: `@ & ~ < > #` are then literal characters, as in Python.
        return {"regexp": {field: {"value": signature.regex, "flags": "NONE"}}}
    return {"match_phrase": {field: signature.phrase}}


def _source_fields(rule: RuleConfig) -> list[str]:
    """Only what `occurrence_of` reads: a hit's stack trace or original event can be large."""
    subject = rule.subject
    fields = ["@timestamp", "message", subject.field, POOL_FIELD, subject.domain_field]
    fields += [subject.host_field, subject.groups_field]
    return list(dict.fromkeys(source_field(field) for field in fields))


def _utc(moment: datetime) -> str:
    if moment.tzinfo is None:
        raise ValueError("query windows need timezone-aware datetimes")
    return format_utc(moment)
