"""The digest of one watch cycle: a table of new and changed issues, as plain text and HTML.

Pure (no I/O, no clock) so what operators read can be tested exactly. The table is capped,
most severe first, and always says how many issues there are in all: a report listing 300 of
1,779 stale entries must not look like a report of 300.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

STATUS_LEGEND: dict[str, str] = {
    "no-delay": "always notified at once",
    "unresolved": "the problem persists",
    "stale": "unresolved for longer than N days, must be reviewed and pruned by a person",
    "permanent": "never deleted automatically, removed only by a person",
    "temporary": "has no resolving signature, treated as self-resolving after a TTL",
    "oddity": "self-resolving, and never mailed on its own",
    "resolved": "its resolving signature was seen",
    "finalized": "resolved and about to be deleted",
}
"""Every status, most severe first, which is also the table's order: fresh problems lead, so a
backlog of stale ones cannot push them out of a capped table."""

COLUMNS = (
    "Pool Domain",
    "Pool Group",
    "Error Status",
    "Error Type",
    "Error Message",
    "Date of latest occurrence",
)

_SEVERITY = {status: rank for rank, status in enumerate(STATUS_LEGEND)}
_CLOSED = frozenset({"resolved", "finalized"})
_MAX_CELL = 200
"""Characters per cell: a multi-kilobyte log message would make the table unreadable."""


@dataclass(frozen=True)
class Row:
    """One issue as the digest shows it; `new` marks issues first seen in this cycle."""

    pool_domain: str
    pool_group: str
    status: str
    type: str
    message: str
    latest: datetime
    subject: str
    new: bool = False

    def __post_init__(self) -> None:
        if self.latest.tzinfo is None:
            raise ValueError("Row.latest must be timezone-aware")

    def cells(self) -> tuple[str, ...]:
        """The six column values, flattened to one line each and capped."""
        values = (self.pool_domain, self.pool_group, self.status, self.type, self.message)
        return (*map(_cell, values), _timestamp(self.latest))


@dataclass(frozen=True)
class Digest:
    """A rendered digest; `rows` are the ones shown (sorted, capped), `total` all there are."""

    subject: str
    text: str
    html: str
    rows: tuple[Row, ...]
    total: int


def build_digest(
    rows: Iterable[Row],
    *,
    total: int,
    max_rows: int,
    now: datetime,
    prefix: str,
    legend: Mapping[str, str] = STATUS_LEGEND,
) -> Digest:
    """Render `rows` (the cycle's new and changed issues) as a mail-ready digest.

    `total` is how many issues there are in all, at least the number of rows given: a caller
    may pass only the first `max_rows`. The subject's counts come from the rows given. `now`
    (timezone-aware, like every `Row.latest`) is stated as the time the digest was made.
    """
    ordered = sorted(rows, key=_sort_key)
    if total < len(ordered):
        raise ValueError(f"total {total} is less than the {len(ordered)} rows given")
    shown = tuple(ordered[:max_rows])
    summary = f"showing {len(shown)} of {total} issues, most severe first"
    generated = f"Generated {_timestamp(now)}."
    return Digest(
        subject=_subject(ordered, prefix),
        text=_text(shown, summary, generated, legend),
        html=_html(shown, summary, generated, legend),
        rows=shown,
        total=total,
    )


def _sort_key(row: Row) -> tuple[int, float]:
    return _SEVERITY.get(row.status, len(_SEVERITY)), -row.latest.timestamp()


def _subject(rows: Sequence[Row], prefix: str) -> str:
    new = sum(row.new for row in rows)
    resolved = sum(row.status in _CLOSED for row in rows)
    still_open = len(rows) - resolved
    counts = f"{new} new, {resolved} resolved, {still_open} open — dCache issues"
    return f"{prefix} {counts}" if prefix else counts


def _text(rows: Sequence[Row], summary: str, generated: str, legend: Mapping[str, str]) -> str:
    table = [COLUMNS, *(row.cells() for row in rows)]
    widths = [max(len(line[i]) for line in table) for i in range(len(COLUMNS))]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True))
        for line in table
    ]
    lines.insert(1, "  ".join("-" * width for width in widths))
    status_width = max(map(len, legend), default=0)
    key = [f"  {status.ljust(status_width)}  {_cell(text)}" for status, text in legend.items()]
    return "\n".join(
        [summary, "", *(line.rstrip() for line in lines), "", "Statuses:", *key, "", generated, ""]
    )


def _html(rows: Sequence[Row], summary: str, generated: str, legend: Mapping[str, str]) -> str:
    # Table attributes rather than CSS, because every mail client honours them.
    head = "".join(f"<th>{html.escape(name)}</th>" for name in COLUMNS)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(value)}</td>" for value in row.cells()) + "</tr>\n"
        for row in rows
    )
    key = "".join(
        f"<dt><b>{html.escape(status)}</b></dt><dd>{html.escape(text)}</dd>\n"
        for status, text in legend.items()
    )
    return (
        '<!DOCTYPE html>\n<html><head><meta charset="utf-8"></head><body>\n'
        f"<p>{html.escape(summary)}</p>\n"
        '<table border="1" cellspacing="0" cellpadding="4">\n'
        f"<thead><tr>{head}</tr></thead>\n<tbody>\n{body}</tbody></table>\n"
        f"<h4>Statuses</h4>\n<dl>\n{key}</dl>\n"
        f"<p>{html.escape(generated)}</p>\n</body></html>\n"
    )


def _cell(value: str) -> str:
    # Control characters (newlines, terminal escapes) would break the table or the reader's tty.
    flat = " ".join("".join(c if c.isprintable() else " " for c in value).split())
    return flat if len(flat) <= _MAX_CELL else flat[: _MAX_CELL - 1] + "…"


def _timestamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
