"""The jobs' questions and answers as plain values, and how they are printed: a table for
people, one JSON object with `--json`. Pure (no pyspark), so it is tested without a JVM."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, get_args

from esbridge.analyze.month import Month
from esbridge.utc import format_utc

Dimension = Literal["storage-group", "protocol", "direction"]
DIMENSIONS: tuple[Dimension, ...] = get_args(Dimension)
UNKNOWN = "(none)"
"""The breakdown's key for records without the field (e.g. no `storageInfo`)."""


@dataclass(frozen=True)
class BillingQuery:
    month: Month
    vo: str | None = None
    by: Dimension | None = None
    include_p2p: bool = False
    include_failed: bool = False
    producer: str = "billing"


@dataclass(frozen=True)
class Tally:
    bytes: int
    transfers: int


@dataclass(frozen=True)
class BillingVolume:
    query: BillingQuery
    total: Tally
    by: dict[str, Tally]
    """Per key of `query.by`, largest volume first; empty without a breakdown."""


@dataclass(frozen=True)
class PoolInterval:
    first_seen: datetime
    last_seen: datetime
    groups: tuple[str, ...]
    """Sorted, without repeats: the order dCache lists them in carries no meaning."""
    snapshots: int


_UNITS = ("KiB", "MiB", "GiB", "TiB", "PiB", "EiB")


def human_bytes(count: int) -> str:
    """1536 -> `1.5 KiB`; the exact count is printed beside it and kept in the JSON."""
    if count < 1024:
        return f"{count} B"
    size = float(count)
    for unit in _UNITS:
        size /= 1024
        if size < 1024 or unit == _UNITS[-1]:
            break
    return f"{size:.1f} {unit}"


def table(
    header: tuple[str, ...], rows: Sequence[tuple[str, ...]], right: frozenset[int] = frozenset()
) -> str:
    """Text columns, two spaces apart; the columns numbered in `right` right-aligned."""
    widths = [max(len(cell) for cell in column) for column in zip(header, *rows, strict=True)]

    def line(cells: tuple[str, ...]) -> str:
        return "  ".join(
            cell.rjust(width) if index in right else cell.ljust(width)
            for index, (cell, width) in enumerate(zip(cells, widths, strict=True))
        ).rstrip()

    return "\n".join([line(header), *(line(row) for row in rows)])


def _counting(query: BillingQuery) -> str:
    left_out = [
        what
        for what, included in (("p2p", query.include_p2p), ("failed", query.include_failed))
        if not included
    ]
    return "transfers" + (f" (without {' and '.join(left_out)})" if left_out else "")


def billing_json(result: BillingVolume) -> dict[str, Any]:
    query = result.query
    return {
        "month": query.month.label,
        "vo": query.vo,
        "bytes": result.total.bytes,
        "transfers": result.total.transfers,
        "by": {key: {"bytes": t.bytes, "transfers": t.transfers} for key, t in result.by.items()},
        "group_by": query.by,
        "include_p2p": query.include_p2p,
        "include_failed": query.include_failed,
    }


def billing_text(result: BillingVolume) -> str:
    query, total = result.query, result.total
    scope = f"VO {query.vo}" if query.vo is not None else "all VOs"
    lines = [
        f"billing volume {query.month.label} (UTC), {scope}, {_counting(query)}: "
        f"{human_bytes(total.bytes)} ({total.bytes} bytes) in {total.transfers} transfers"
    ]
    if query.by is not None:
        rows = [
            (key, str(t.bytes), human_bytes(t.bytes), str(t.transfers))
            for key, t in result.by.items()
        ]
        lines += ["", table((query.by, "bytes", "", "transfers"), rows, frozenset({1, 2, 3}))]
    return "\n".join(lines)


def pool_json(pool: str, intervals: list[PoolInterval]) -> dict[str, Any]:
    return {
        "pool": pool,
        "intervals": [
            {
                "first_seen": format_utc(i.first_seen),
                "last_seen": format_utc(i.last_seen),
                "groups": list(i.groups),
                "snapshots": i.snapshots,
            }
            for i in intervals
        ],
    }


def pool_text(pool: str, intervals: list[PoolInterval]) -> str:
    if not intervals:
        return f"pool {pool}: no archived snapshot"
    rows = [
        (
            format_utc(i.first_seen),
            format_utc(i.last_seen),
            ",".join(i.groups) or "-",
            str(i.snapshots),
        )
        for i in intervals
    ]
    periods = f"{len(intervals)} period{'' if len(intervals) == 1 else 's'}"
    return f"pool {pool}: {periods} of constant pool groups (UTC)\n\n" + table(
        ("first seen", "last seen", "groups", "snapshots"), rows, frozenset({3})
    )
