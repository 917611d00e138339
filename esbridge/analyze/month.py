"""A calendar month in UTC: the unit a billing report is asked for."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime

from esbridge.errors import UsageError

_MONTH = re.compile(r"(\d{4})-(\d{2})")


@dataclass(frozen=True, order=True)
class Month:
    year: int
    month: int

    @classmethod
    def parse(cls, text: str) -> Month:
        """`2019-06` -> Month(2019, 6); a UsageError names anything else."""
        match = _MONTH.fullmatch(text.strip())
        if not match or not 1 <= int(match.group(2)) <= 12:
            raise UsageError(f"month {text!r}: expected YYYY-MM, e.g. 2019-06")
        return cls(int(match.group(1)), int(match.group(2)))

    @property
    def label(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"

    @property
    def start(self) -> datetime:
        """The first instant of the month, UTC."""
        return datetime(self.year, self.month, 1, tzinfo=UTC)

    @property
    def end(self) -> datetime:
        """The first instant of the next month, UTC (exclusive)."""
        if self.month == 12:
            return datetime(self.year + 1, 1, 1, tzinfo=UTC)
        return datetime(self.year, self.month + 1, 1, tzinfo=UTC)

    @property
    def folder(self) -> str:
        """The archive's partition folder of the month, below a producer's folder."""
        return f"year={self.year:04d}/month={self.month:02d}"
