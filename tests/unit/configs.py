"""Config texts the config unit tests build on."""

from __future__ import annotations

from pathlib import Path

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "dcache.yml"

MINIMAL = """\
kafka:
  bootstrap: 127.0.0.1:9092
elasticsearch:
  hosts: http://127.0.0.1:9200
producers:
  - name: billing
    topics: [billing]
    parser: billing
    index: dcache-billing
"""
