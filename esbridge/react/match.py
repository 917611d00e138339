"""Field conditions over a decoded message: equals, in, prefix, regex, exists, each negatable.

Pure: a reactor's `match:` list is tested here against the JSON object as decoded, dotted paths
walking nested objects (`moverInfo.status.code`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from esbridge.config.react import ConditionConfig, Value

MISSING = object()
"""What `lookup` returns for a path the message does not hold."""


def lookup(record: Mapping[str, object], path: str) -> object:
    """The value at dotted `path`; a key that itself holds dots is found too (Filebeat's
    flattened `log.file.path`). `MISSING` when there is none."""
    if path in record:
        return record[path]
    head, _, rest = path.partition(".")
    inner = record.get(head, MISSING) if rest else MISSING
    if isinstance(inner, Mapping):
        return lookup(inner, rest)
    return MISSING


def matches(conditions: Sequence[ConditionConfig], record: Mapping[str, object]) -> bool:
    """Whether every condition holds for `record` (no conditions: every message)."""
    return all(holds(condition, record) for condition in conditions)


def holds(condition: ConditionConfig, record: Mapping[str, object]) -> bool:
    value = lookup(record, condition.field)
    if condition.exists is not None:
        found = (value is not MISSING) == condition.exists
    elif value is MISSING:
        found = False
    elif isinstance(value, list):
        found = any(_test(condition, item) for item in value)
    else:
        found = _test(condition, value)
    return found != condition.negate


def _test(condition: ConditionConfig, value: object) -> bool:
    if condition.equals is not None:
        return same(value, condition.equals)
    if condition.in_ is not None:
        return any(same(value, wanted) for wanted in condition.in_)
    if not isinstance(value, str):
        return False
    if condition.prefix is not None:
        return value.startswith(condition.prefix)
    return condition.regex is not None and re.fullmatch(condition.regex, value) is not None


def same(value: object, wanted: Value) -> bool:
    """JSON equality: booleans equal only booleans (Python has `True == 1`), numbers compare
    as numbers, strings as strings."""
    if isinstance(wanted, bool) or isinstance(value, bool):
        return isinstance(value, bool) and isinstance(wanted, bool) and value is wanted
    if isinstance(wanted, int | float):
        return isinstance(value, int | float) and value == wanted
    return isinstance(value, str) and value == wanted
