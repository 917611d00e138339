"""The shipped Filebeat configs against esbridge's parsers and examples/dcache.yml.

These checks need no Filebeat (tests/integration/test_filebeat.py runs a real one, without its
journald input; see pipelines/README.md). What is checked: the YAML, the
inputs, the Kafka output, that the multiline pattern is the date part of the parser's own
LOG_LINE_PATTERN, that the configs' drop and routing conditions send every sample event to the
topic of the producer that parses it, and that each field a Filebeat event carries is one the
parsers need (a synthetic event with it parses fully; without it something is lost).
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
import yaml

from esbridge.transforms import PARSERS, ParseContext, ParseError
from esbridge.transforms.logs import LOG_LINE_PATTERN
from tests.helpers.paths import REPO as ROOT

FILEBEAT = ROOT / "pipelines" / "filebeat"
CONFIGS = ("filebeat.yml", "filebeat-files.yml")
CTX = ParseContext(producer="logs")

# What Filebeat puts into an event of each input that esbridge reads (Filebeat's own field
# names: journald input -> systemd.unit, syslog.identifier; filestream -> log.file.path).
JOURNALD_EVENT = {
    "@timestamp": "2026-10-14T07:49:55.404Z",
    "message": "14 Oct 2026 09:49:55 (pool_1) [door:x] Pool mode changed to enabled",
    "host": {"name": "pool01"},
    "systemd": {"unit": "dcache@pool01Domain.service"},
    "syslog": {"identifier": "dcache@pool01Domain"},
}
FILE_EVENT = {
    "@timestamp": "2026-10-14T07:49:55.404Z",
    "message": "14 Oct 2026 09:49:55 (pool_1) [] Pool mode changed to enabled\n\tat a.B(B.java:1)",
    "host": {"name": "pool01"},
    "log": {"file": {"path": "/var/log/dcache/pool01Domain.log"}},
}
ACCESS_EVENT = {
    "@timestamp": "2026-10-14T07:14:23.000Z",
    "message": "level=INFO ts=2026-10-14T09:14:22.901+0200 event=org.dcache.webdav.request"
    " response.code=201",
    "host": {"name": "door02"},
    "log": {"file": {"path": "/var/log/dcache/webdavDomain.access"}},
}


def config(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((FILEBEAT / name).read_text(encoding="utf-8"))
    return loaded


def value(event: dict[str, Any], dotted: str) -> Any:
    for key in dotted.split("."):
        event = event.get(key) if isinstance(event, dict) else None  # type: ignore[assignment]
    return event


def regexp_holds(condition: dict[str, Any], event: dict[str, Any]) -> bool:
    """Filebeat's `regexp` condition (one field, unanchored search, as Go's regexp.MatchString)."""
    ((field, pattern),) = condition.items()
    found = value(event, field)
    return isinstance(found, str) and re.search(pattern, found) is not None


def kept_by(input_config: dict[str, Any], event: dict[str, Any]) -> bool:
    for processor in input_config.get("processors", []):
        condition = processor["drop_event"]["when"]
        if regexp_holds(condition["not"]["regexp"], event):
            continue
        return False
    return True


def topic_of(output: dict[str, Any], event: dict[str, Any]) -> str:
    for rule in output.get("topics", []):
        if regexp_holds(rule["when.regexp"], event):
            return str(rule["topic"])
    return str(output["topic"])


def example_topics() -> dict[str, str]:
    """topic -> parser, from examples/dcache.yml."""
    example = yaml.safe_load((ROOT / "examples" / "dcache.yml").read_text(encoding="utf-8"))
    return {t: p["parser"] for p in example["producers"] for t in p["topics"]}


def samples(name: str) -> list[dict[str, Any]]:
    path = ROOT.parent / "shared" / "samples" / name
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


def multiline_patterns(cfg: dict[str, Any]) -> list[str]:
    return [
        parser["multiline"]["pattern"]
        for item in cfg["filebeat.inputs"]
        for parser in item.get("parsers", [])
    ]


def date_prefix_of_log_line_pattern() -> str:
    """`^` + LOG_LINE_PATTERN up to the `(cell)`, named groups made plain (RE2 takes both)."""
    date_part = LOG_LINE_PATTERN[: LOG_LINE_PATTERN.index(r"\((?P<cell>")]
    return "^" + re.sub(r"\(\?P<\w+>", "(?:", date_part)


@pytest.mark.parametrize("name", CONFIGS)
def test_config_parses_and_its_output_is_kafka_with_safe_delivery(name: str) -> None:
    output = config(name)["output.kafka"]

    assert output["required_acks"] == -1
    assert output["compression"] in {"gzip", "snappy", "lz4"}  # Filebeat refuses zstd
    assert 0 < output["max_message_bytes"] <= 1024**2  # examples/dcache.yml max_message_bytes
    assert output["hosts"] == ["${KAFKA_BOOTSTRAP:127.0.0.1:9092}"]
    text = (FILEBEAT / name).read_text(encoding="utf-8")
    for placeholder in ("sasl.mechanism", "password:", "ssl.certificate_authorities", "ssl.key"):
        assert f"# {placeholder}" in text, placeholder


@pytest.mark.parametrize("name", CONFIGS)
def test_every_topic_is_consumed_by_the_example_config_with_the_right_parser(name: str) -> None:
    output = config(name)["output.kafka"]
    topics = example_topics()

    assert topics[output["topic"]] == "logs"
    assert [topics[r["topic"]] for r in output["topics"]] == ["access"]


def test_journald_config_keeps_dcache_units_and_drops_the_rest() -> None:
    (journald,) = (i for i in config("filebeat.yml")["filebeat.inputs"] if i["type"] == "journald")
    other = JOURNALD_EVENT | {"systemd": {"unit": "sshd.service"}}
    lookalike = JOURNALD_EVENT | {"systemd": {"unit": "dcache-exporter.service"}}

    from_journal = [e for e in samples("logs.jsonl") if e["input"]["type"] == "journald"]

    assert from_journal
    assert all(kept_by(journald, event) for event in from_journal)
    assert kept_by(journald, JOURNALD_EVENT)
    assert not kept_by(journald, other)
    assert not kept_by(journald, lookalike)


@pytest.mark.parametrize(
    ("name", "paths"),
    [
        ("filebeat.yml", ["/var/log/dcache/*.access"]),
        ("filebeat-files.yml", ["/var/log/dcache/*.log", "/var/log/dcache/*.access"]),
    ],
)
def test_filestream_inputs_read_dcache_files(name: str, paths: list[str]) -> None:
    inputs = config(name)["filebeat.inputs"]
    streams = [i for i in inputs if i["type"] == "filestream"]

    assert [p for s in streams for p in s["paths"]] == paths
    assert len({i["id"] for i in inputs}) == len(inputs)  # filestream needs unique ids


@pytest.mark.parametrize("name", CONFIGS)
def test_multiline_pattern_is_the_date_part_of_the_parsers_line_pattern(name: str) -> None:
    (pattern,) = multiline_patterns(config(name))

    assert pattern == date_prefix_of_log_line_pattern()
    for event in samples("logs.jsonl"):  # a line starts an event iff the parser parses it
        first_line = event["message"].partition("\n")[0]
        parsed = re.fullmatch(LOG_LINE_PATTERN, first_line) is not None
        assert (re.search(pattern, first_line) is not None) == parsed, first_line
    for continuation in ("\tat org.dcache.pool.X.run(X.java:42)", "Caused by: java.io.IOE"):
        assert re.search(pattern, continuation) is None


@pytest.mark.parametrize(
    ("name", "sample_file", "parser"),
    [
        ("filebeat.yml", "logs.jsonl", "logs"),
        ("filebeat.yml", "access.jsonl", "access"),
        ("filebeat-files.yml", "access.jsonl", "access"),
    ],
)
def test_sample_events_are_routed_to_the_topic_of_their_parser(
    name: str, sample_file: str, parser: str
) -> None:
    output = config(name)["output.kafka"]
    topics = example_topics()

    assert {topics[topic_of(output, e)] for e in samples(sample_file)} == {parser}


def test_domain_log_file_events_go_to_the_logs_topic() -> None:
    output = config("filebeat-files.yml")["output.kafka"]

    assert example_topics()[topic_of(output, FILE_EVENT)] == "logs"


@pytest.mark.parametrize(
    ("event", "parser"),
    [(JOURNALD_EVENT, "logs"), (FILE_EVENT, "logs"), (ACCESS_EVENT, "access")],
    ids=["journald", "log-file", "access-file"],
)
def test_an_event_with_filebeats_fields_parses_fully(event: dict[str, Any], parser: str) -> None:
    doc = PARSERS[parser](event, CTX)

    assert doc["host"]["name"] == event["host"]["name"]
    assert doc["dcache"]["domain"] in {"pool01Domain", "webdavDomain"}
    assert doc.get("log", {}).get("parsed", True) is True
    if parser == "logs":
        assert doc["message"] == "Pool mode changed to enabled"
    else:
        assert doc["access"]["response"]["code"] == 201


@pytest.mark.parametrize(
    ("event", "parser", "removed", "lost"),
    [
        (JOURNALD_EVENT, "logs", "host", "host.name"),
        (FILE_EVENT, "logs", "host", "host.name"),
        (FILE_EVENT, "logs", "log", "dcache.domain"),
        (ACCESS_EVENT, "access", "host", "host.name"),
        (ACCESS_EVENT, "access", "log", "dcache.domain"),
    ],
)
def test_each_field_filebeat_sends_is_needed(
    event: dict[str, Any], parser: str, removed: str, lost: str
) -> None:
    without = {k: v for k, v in event.items() if k != removed}

    assert value(PARSERS[parser](event, CTX), lost) is not None
    assert value(PARSERS[parser](without, CTX), lost) is None


def test_journald_domain_needs_the_identifier_or_the_unit() -> None:
    only_unit = {k: v for k, v in JOURNALD_EVENT.items() if k != "syslog"}
    neither = {k: v for k, v in only_unit.items() if k != "systemd"}

    assert PARSERS["logs"](only_unit, CTX)["dcache"]["domain"] == "pool01Domain"
    assert value(PARSERS["logs"](neither, CTX), "dcache.domain") is None


@pytest.mark.parametrize("event", [JOURNALD_EVENT, FILE_EVENT, ACCESS_EVENT])
def test_message_is_mandatory_and_timestamp_backs_an_undated_line(event: dict[str, Any]) -> None:
    parser = PARSERS["access" if event is ACCESS_EVENT else "logs"]
    undated = event | {"message": "JVM started" if parser is PARSERS["logs"] else "level=INFO"}
    no_timestamp = {k: v for k, v in undated.items() if k != "@timestamp"}

    with pytest.raises(ParseError, match="message"):
        parser({k: v for k, v in event.items() if k != "message"}, CTX)
    assert parser(undated, CTX)["@timestamp"].startswith("2026-10-14T07:")
    with pytest.raises(ParseError, match="timestamp"):
        parser(no_timestamp, CTX)
