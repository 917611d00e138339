"""The scripts under benchmarks/ as modules: they import their neighbours (cpu, peers/) by
name, as when run as `python benchmarks/<script>.py`, so that folder goes on sys.path."""

from __future__ import annotations

import importlib
import sys
from types import ModuleType

from tests.helpers.paths import REPO

BENCHMARKS = REPO / "benchmarks"


def benchmark_module(name: str) -> ModuleType:
    if str(BENCHMARKS) not in sys.path:
        sys.path.insert(0, str(BENCHMARKS))
    return importlib.import_module(name)
