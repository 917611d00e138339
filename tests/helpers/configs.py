"""Config texts the config unit tests build on."""

from __future__ import annotations

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
