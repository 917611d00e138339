"""Benchmark figures quoted outside docs/benchmarks.md are the ones it records."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.helpers.paths import EXAMPLE_CONFIG, REPO

BENCHMARKS = (REPO / "docs" / "benchmarks.md").read_text(encoding="utf-8")
# Ratios (0.803), ranges of CPU-seconds (63-69) and factors (1.2x).
FIGURE = re.compile(r"\b\d\.\d{3}\b|\b\d+-\d+(?= (?:against|CPU))|\b\d+(?:\.\d+)?x\b")


@pytest.mark.parametrize("path", [REPO / "README.md", EXAMPLE_CONFIG], ids=lambda p: p.name)
def test_backend_figures_outside_the_benchmark_page_are_on_it(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    paragraph = re.search(r"[^\n]*confluent[^\n]*(?:\n[^\n]+){0,4}", text)
    assert paragraph is not None
    figures = FIGURE.findall(paragraph.group(0))
    assert figures, f"{path}: no figure quoted next to the backend choice"
    missing = [figure for figure in figures if figure not in BENCHMARKS]
    assert missing == [], f"{path} quotes figures docs/benchmarks.md does not have: {missing}"
