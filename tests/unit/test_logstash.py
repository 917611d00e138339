"""The Logstash pipelines: their patterns are the parsers' own, they match the samples, and the
committed files are what esbridge/logstash.py renders."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from esbridge.logstash import LOGSTASH_DIR, access_line_regex, grok_regex, render_pipelines
from esbridge.transforms.access import KEY_PATTERN, split_access_line
from esbridge.transforms.base import ParseError
from esbridge.transforms.logs import LOG_LINE_PATTERN

SAMPLES = Path(__file__).resolve().parents[2].parent / "shared" / "samples"
RENDERED = render_pipelines()


def sample_messages(name: str) -> list[str]:
    lines = (SAMPLES / name).read_text(encoding="utf-8").splitlines()
    return [json.loads(line)["message"] for line in lines if line]


def as_python(oniguruma: str) -> re.Pattern[str]:
    """The documented translation undone: `(?<` -> `(?P<`, anchors kept (re.search)."""
    return re.compile(oniguruma.replace("(?<", "(?P<"))


@pytest.mark.parametrize("name", sorted(RENDERED))
def test_committed_pipeline_equals_a_fresh_render(name: str) -> None:
    assert (LOGSTASH_DIR / name).read_text(encoding="utf-8") == RENDERED[name], (
        "stale: run `python -c 'from esbridge.logstash import write_pipelines; write_pipelines()'`"
    )


def test_grok_pattern_is_log_line_pattern_after_the_documented_translation() -> None:
    grok = grok_regex(LOG_LINE_PATTERN)

    assert grok == "^" + LOG_LINE_PATTERN.replace("(?P<", "(?<") + "$"
    assert f'"message" => "{grok}"' in RENDERED["kafka-to-es.conf"]
    assert re.findall(r"\(\?<(\w+)>", grok) == list(re.compile(LOG_LINE_PATTERN).groupindex)


def test_grok_pattern_splits_every_sample_line_as_the_parser_does() -> None:
    grok, python = as_python(grok_regex(LOG_LINE_PATTERN)), re.compile(LOG_LINE_PATTERN)
    for message in sample_messages("logs.jsonl"):
        first_line = message.partition("\n")[0]
        ours, theirs = grok.search(first_line), python.fullmatch(first_line)
        assert (ours is None) == (theirs is None), first_line
        if ours and theirs:
            assert ours.groupdict() == theirs.groupdict()


def test_access_gate_is_built_from_key_pattern_and_is_in_the_pipeline() -> None:
    assert KEY_PATTERN in access_line_regex()
    assert f"!~ /{access_line_regex()}/" in RENDERED["kafka-to-es.conf"]


@pytest.mark.parametrize("line", sample_messages("access.jsonl"))
def test_access_gate_accepts_every_sample_line(line: str) -> None:
    split_access_line(line)  # the parser accepts it...

    assert re.search(access_line_regex(), line)  # ...and so does Logstash


@pytest.mark.parametrize("line", ["not a key value line", "=x", "bad key=1", 'a="never ends'])
def test_access_gate_rejects_what_the_parser_rejects(line: str) -> None:
    with pytest.raises(ParseError):
        split_access_line(line)

    assert re.search(access_line_regex(), line) is None


def test_pipeline_reads_the_example_topics_and_writes_with_offset_ids() -> None:
    text = RENDERED["kafka-to-es.conf"]

    assert 'topics => ["dcache-logs", "dcache-access"]' in text
    assert 'decorate_events => "basic"' in text
    assert (
        '"%{[@metadata][kafka][topic]}-%{[@metadata][kafka][partition]}-'
        '%{[@metadata][kafka][offset]}"' in text
    )
    assert text.count('action => "create"') == 2
    assert 'index => "esbridge-deadletter"' in text
    assert 'topic_id => "dcache-access"' in RENDERED["access-to-kafka.conf"]
