"""Search bodies for a rule's occurrences and resolving signatures in one window of ingest time.

A window is cut on `event.ingested`, the time ingest stamped on the document (just before it
became searchable), not on `@timestamp`, the log line's own time: a line that reaches
Elasticsearch late (ingest stopped, a Kafka or Filebeat backlog) is then in the window of the
cycle after it arrived, however old its line is. The lifecycle still orders by `@timestamp`
(`esbridge.watch.lifecycle`). Documents without `event.ingested` (indexed by an esbridge that did
not set it, or by another writer) fall back to their `@timestamp`, which is how every window
was cut before: they are found as they always were, late ones excepted.

Everything is a `bool` filter (no scoring: the watcher wants every hit, not the best ones), and
each clause asks what `match.py` checks in Python. Hits come oldest first by `@timestamp`, so
the lifecycle sees a pool disabled before it sees it enabled again.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from esbridge.config.watch import RuleConfig, SignatureConfig
from esbridge.utc import format_utc
from esbridge.watch.match import POOL_FIELD, source_field

INGESTED = "event.ingested"


def window_start(
    checkpoint: datetime | None, end: datetime, *, lag: timedelta, since: timedelta
) -> datetime:
    """Where a window ending at `end` begins: `lag` before the last one ended, so that a document
    stamped just before that end but searchable only after it is read again; `since` before
    `end` on a first run (no checkpoint); and never after `end` (a clock set back)."""
    return end - since if checkpoint is None else min(checkpoint - lag, end)


def rule_query(rule: RuleConfig, start: datetime, end: datetime) -> dict[str, Any]:
    """The body finding `rule`'s occurrences ingested in `[start, end)`."""
    terms = [{"term": {field: value}} for field, value in rule.match.filters.items()]
    return _body(rule, [*_window(start, end), _signature(rule.match), *terms])


def resolve_query(rule: RuleConfig, start: datetime, end: datetime) -> dict[str, Any] | None:
    """The body finding `rule`'s resolving signature ingested in `[start, end)`, if it has one."""
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
    """Ingested in `[start, end)`; without an ingest time, logged in it."""
    window = {"gte": _utc(start), "lt": _utc(end), "format": "strict_date_optional_time"}
    unstamped = {
        "bool": {
            "must_not": [{"exists": {"field": INGESTED}}],
            "filter": [{"range": {"@timestamp": window}}],
        }
    }
    either = [{"range": {INGESTED: window}}, unstamped]
    return [{"bool": {"should": either, "minimum_should_match": 1}}]


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
