"""Where the checkout's own files are: tests read them as committed, not as installed."""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SAMPLES = REPO.parent / "shared" / "samples"
EXAMPLE_CONFIG = REPO / "examples" / "dcache.yml"
EXAMPLE_RULES = REPO / "examples" / "rules"
FIELDS_MD = REPO / "docs" / "fields.md"
LOGSTASH_DIR = REPO / "pipelines" / "logstash"
KIBANA_OBJECTS = REPO / "kibana" / "objects.ndjson"
