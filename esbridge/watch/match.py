"""Whether a document matches a rule, and what it is about: in Python, as Elasticsearch decides.

`query.py` asks Elasticsearch the same questions; this module is the reference its bodies are
tested against, and what the watcher uses on documents it already holds. The pieces mirror:

- a phrase is a `match_phrase` on an analysed field: the standard analyzer's lower-cased words
  (`_WORD` approximates Unicode word boundaries), consecutive, in order;
- a regex is a `regexp` on a keyword field: it must match the whole value;
- a filter is a `term`: equal to the value, or to one element of an array;
- `<field>.keyword` and `<field>.text` are multi-fields: their values are `<field>`'s.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from datetime import datetime
from typing import Any

from esbridge.config.watch import RuleConfig, SignatureConfig, TermValue
from esbridge.watch.lifecycle import Occurrence, Subject

POOL_FIELD = "dcache.pool.name"
MULTI_FIELDS = (".keyword", ".text")

_WORD = re.compile(r"\w+(?:(?:[.'\u2019]|(?<=[^\W\d_]):(?=[^\W\d_]))\w+)*")
"""A word as the standard tokenizer sees one: `java.lang.Error`, `don't` and `a:b` stay whole,
`p2p-client`, `disabled()` and `09:49` split. Close enough for log phrases."""


def matches(rule: RuleConfig, doc: Mapping[str, Any]) -> bool:
    """Whether `doc` is an occurrence of `rule` (its signature and every filter)."""
    filters = rule.match.filters.items()
    return signature_matches(rule.match, doc) and all(
        _term_matches(doc, field, value) for field, value in filters
    )


def resolves(rule: RuleConfig, doc: Mapping[str, Any]) -> bool:
    """Whether `doc` carries `rule`'s resolving signature."""
    return rule.resolve is not None and signature_matches(rule.resolve, doc)


def signature_matches(signature: SignatureConfig, doc: Mapping[str, Any]) -> bool:
    """Whether a value of the signature's field holds its phrase or matches its regex."""
    texts = [v for v in field_values(doc, signature.field_name) if isinstance(v, str)]
    if signature.regex is not None:
        pattern = re.compile(signature.regex, re.DOTALL)
        return any(pattern.fullmatch(text) for text in texts)
    phrase = words(signature.phrase or "")
    return bool(phrase) and any(_contains(words(text), phrase) for text in texts)


def subject_of(rule: RuleConfig, doc: Mapping[str, Any]) -> Subject | None:
    """What `doc` is about under `rule`; None when it names no subject (it is then skipped).

    The subject regex's `subject` group on the message wins; else the subject field. A rule whose
    subject field is the pool's is about a pool, so the subject is also the `pool`.
    """
    config = rule.subject
    name = None
    message = doc.get("message")
    if config.regex is not None and isinstance(message, str):
        found = re.search(config.regex, message)
        name = found["subject"] if found else None
    name = name or _first_text(doc, config.field)
    if not name:
        return None
    return Subject(
        name=name,
        pool=name if config.field == POOL_FIELD else _first_text(doc, POOL_FIELD),
        domain=_first_text(doc, config.domain_field),
        host=_first_text(doc, config.host_field),
        pool_groups=tuple(v for v in field_values(doc, config.groups_field) if isinstance(v, str)),
    )


def occurrence_of(rule: RuleConfig, doc: Mapping[str, Any]) -> Occurrence | None:
    """`doc` as an occurrence for the lifecycle; None without a subject or a usable @timestamp."""
    subject = subject_of(rule, doc)
    stamp = doc.get("@timestamp")
    if subject is None or not isinstance(stamp, str):
        return None
    try:
        at = datetime.fromisoformat(stamp)
    except ValueError:
        return None
    if at.tzinfo is None:
        return None
    message = doc.get("message")
    return Occurrence(at, message if isinstance(message, str) else "", subject)


def words(text: str) -> list[str]:
    """`text` as the standard analyzer indexes it (approximately): lower-cased words."""
    return [word.lower() for word in _WORD.findall(text)]


def field_values(doc: Mapping[str, Any], path: str) -> list[Any]:
    """Every value at dotted `path` in `doc`, through nested objects and arrays, as Elasticsearch
    flattens them; a multi-field (`message.keyword`) reads its parent field."""
    return list(_walk(doc, source_field(path).split(".")))


def source_field(path: str) -> str:
    """The field of the source document behind `path`: a multi-field's parent, else `path`."""
    for suffix in MULTI_FIELDS:
        path = path.removesuffix(suffix)
    return path


def _walk(value: Any, keys: list[str]) -> Iterator[Any]:
    if isinstance(value, list):
        for item in value:
            yield from _walk(item, keys)
    elif not keys:
        if value is not None:
            yield value
    elif isinstance(value, Mapping):
        # Source documents may also hold a dotted key (`"dcache.pool": {...}`) as one name.
        for i in range(len(keys), 0, -1):
            key = ".".join(keys[:i])
            if key in value:
                yield from _walk(value[key], keys[i:])


def _first_text(doc: Mapping[str, Any], path: str) -> str | None:
    return next((v for v in field_values(doc, path) if isinstance(v, str) and v), None)


def _contains(text: list[str], phrase: list[str]) -> bool:
    n = len(phrase)
    return any(text[i : i + n] == phrase for i in range(len(text) - n + 1))


def _term_matches(doc: Mapping[str, Any], field: str, expected: TermValue) -> bool:
    # Elasticsearch does not take `true` for 1; Python would.
    return any(
        value == expected and isinstance(value, bool) == isinstance(expected, bool)
        for value in field_values(doc, field)
    )
