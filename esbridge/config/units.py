"""Human-friendly sizes and durations, parsed once at load so the rest of esbridge sees numbers.

Sizes use Elasticsearch's binary units (`kb` = 1024 bytes) so a value means the same thing in
our config as in the cluster's own settings. Error messages never repeat the input: it might be
a misplaced secret.
"""

from __future__ import annotations

import math
import re
from decimal import Decimal
from typing import Annotated

from pydantic import BeforeValidator, Field

_SIZE_UNITS = {"": 1, "b": 1, "kb": 1024, "mb": 1024**2, "gb": 1024**3, "tb": 1024**4}
_DURATION_UNITS = {"ms": 0.001, "": 1.0, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_QUANTITY = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([A-Za-z]*)\s*")

_SIZE_HINT = "expected a whole number of bytes or a size such as 512kb, 10mb, 1gb"
_DURATION_HINT = "expected seconds as a number or a duration such as 500ms, 1s, 2m, 1h, 1d"


def parse_size(value: object) -> int:
    """Bytes from an int or a string like `"10mb"` (units b, kb, mb, gb, tb; any case).

    Raises ValueError (which pydantic reports against the key) for anything else.
    """
    if isinstance(value, bool):
        raise ValueError(_SIZE_HINT)
    if isinstance(value, int):
        if value < 0:
            raise ValueError("a size cannot be negative")
        return value
    if not isinstance(value, str):
        raise ValueError(_SIZE_HINT)
    match = _QUANTITY.fullmatch(value)
    if match is None or match[2].lower() not in _SIZE_UNITS:
        raise ValueError(_SIZE_HINT)
    size = Decimal(match[1]) * _SIZE_UNITS[match[2].lower()]
    if size != size.to_integral_value():
        raise ValueError("a size must come to a whole number of bytes")
    return int(size)


def parse_duration(value: object) -> float:
    """Seconds from a number or a string like `"500ms"` (units ms, s, m, h, d; lower case).

    Units are case-sensitive so that `M` (month? minute?) is an error rather than a guess.
    """
    if isinstance(value, bool):
        raise ValueError(_DURATION_HINT)
    if isinstance(value, int | float):
        if not math.isfinite(value) or value < 0:
            raise ValueError("a duration must be a finite, non-negative number of seconds")
        return float(value)
    if not isinstance(value, str):
        raise ValueError(_DURATION_HINT)
    match = _QUANTITY.fullmatch(value)
    if match is None or match[2] not in _DURATION_UNITS:
        raise ValueError(_DURATION_HINT)
    return float(match[1]) * _DURATION_UNITS[match[2]]


Bytes = Annotated[int, BeforeValidator(parse_size), Field(gt=0)]
"""A positive size in bytes, written as an int or e.g. `"10mb"` in the YAML."""

Seconds = Annotated[float, BeforeValidator(parse_duration), Field(gt=0)]
"""A positive duration in seconds, written as a number or e.g. `"500ms"` in the YAML."""
