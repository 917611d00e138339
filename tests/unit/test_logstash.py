"""The Logstash pipelines: their patterns and tables are the parsers' own, they match the
samples and esbridge's output, every field they write is mapped, and the committed files are
what `esbridge logstash render` writes. Logstash itself cannot run here, so these checks are static:
the Ruby code in the template is read, never executed."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
import yaml

from esbridge.config import load_config, parse_size
from esbridge.logstash.render import (
    RECORD,
    access_line_regex,
    grok_regex,
    render_pipelines,
)
from esbridge.setup.templates import render_resources
from esbridge.transforms import ParseContext, billing, poolinfo, timestamps
from esbridge.transforms.access import KEY_PATTERN, split_access_line
from esbridge.transforms.base import ParseError
from esbridge.transforms.billing import parse_billing, snake_case
from esbridge.transforms.logs import LOG_LINE_PATTERN
from esbridge.transforms.poolinfo import parse_poolinfo
from tests.helpers.mappings import (
    ALL_FIELDS,
    PRODUCERS,
    Deadletter,
    dig,
    effective_mappings,
    lookup,
)
from tests.helpers.paths import EXAMPLE_CONFIG, LOGSTASH_DIR, SAMPLES

RENDERED = render_pipelines(load_config(EXAMPLE_CONFIG, environ={}))
CONF = RENDERED["kafka-to-es.conf"]
EXAMPLE = yaml.safe_load(EXAMPLE_CONFIG.read_text(encoding="utf-8"))
BY_PARSER = {p["parser"]: p for p in EXAMPLE["producers"]}
RESOURCES = render_resources(PRODUCERS, Deadletter())
CTX = ParseContext(producer="test")
DATE = "2026-10-14T09:12:03.41+02:00"


def sample_messages(name: str) -> list[str]:
    lines = (SAMPLES / name).read_text(encoding="utf-8").splitlines()
    return [json.loads(line)["message"] for line in lines if line]


def as_python(oniguruma: str) -> re.Pattern[str]:
    """The documented translation undone: `(?<` -> `(?P<`, anchors kept (re.search)."""
    return re.compile(oniguruma.replace("(?<", "(?P<"))


@pytest.mark.parametrize("name", sorted(RENDERED))
def test_committed_pipeline_equals_a_fresh_render(name: str) -> None:
    assert (LOGSTASH_DIR / name).read_text(encoding="utf-8") == RENDERED[name], (
        "stale: run `esbridge logstash render -o pipelines/logstash`"
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
    assert 'decorate_events => "basic"' in CONF
    assert (
        '"%{[@metadata][kafka][topic]}-%{[@metadata][kafka][partition]}-'
        '%{[@metadata][kafka][offset]}"' in CONF
    )
    assert CONF.count('action => "create"') == 2
    assert 'index => "esbridge-deadletter"' in CONF
    assert 'topic_id => "dcache-access"' in RENDERED["access-to-kafka.conf"]


# --- reading the rendered pipeline ---------------------------------------------------------------


def branch(producer: dict[str, Any]) -> str:
    """The filter branch of `producer`'s topics, from its condition to the next branch."""
    topics = ", ".join(json.dumps(topic) for topic in producer["topics"])
    start = CONF.index(f"[@metadata][kafka][topic] in [{topics}] {{\n")
    end = re.compile(r"^  \}", re.MULTILINE).search(CONF, start)
    assert end is not None
    return CONF[start : end.start()]


def renames(text: str) -> dict[str, str]:
    """Record key -> target field of the `mutate { rename }` entries that read the record."""
    pattern = r'^ *"\[@metadata\]\[record\]\[([^\]]+)\]" => "([^"]+)"$'
    return dict(re.findall(pattern, text, re.MULTILINE))


def ruby_value(text: str, name: str) -> Any:
    """The Ruby literal assigned to `@name` (strings, arrays, string maps) as Python."""
    match = re.search(rf"^ *@{name} = (.+)$", text, re.MULTILINE)
    assert match is not None, f"no @{name} in the Ruby code"
    literal = match[1].removeprefix("Regexp.new(").removesuffix(")").replace("\\#", "#")
    return json.loads(literal.replace('" => "', '": "'))


def dotted(ref: str) -> str:
    return ref.strip("[]").replace("][", ".")


def written_fields(text: str) -> set[str]:
    """Every literal field reference outside @metadata (`"[a][b]"` -> `a.b`); names built at
    run time (`#{name}`) are left to the documented `billing.*` dynamic templates."""
    refs = re.findall(r'"((?:\[[^\[\]"]+\])+)"', text)
    return {dotted(r) for r in refs if not r.startswith("[@metadata]") and "#{" not in r}


def mapped(template: str, section: str, path: str) -> bool:
    """Whether the index maps `path` explicitly or docs/fields.md documents it as dynamic."""
    if lookup(effective_mappings(RESOURCES, template)["properties"], path) is not None:
        return True
    dynamic = {f.path for f in ALL_FIELDS if f.section == section and "dynamic" in f.spec}
    return path in dynamic


# --- the whole pipeline --------------------------------------------------------------------------


def test_input_reads_every_producer_topic_of_the_example_config() -> None:
    match = re.search(r"^    topics => (\[.*\])$", CONF, re.MULTILINE)
    assert match is not None

    topics = json.loads(match[1])

    assert topics == [t for p in EXAMPLE["producers"] for t in p["topics"]]
    assert len(topics) == 4


@pytest.mark.parametrize("producer", EXAMPLE["producers"], ids=lambda p: p["name"])
def test_each_branch_names_its_producer_and_index(producer: dict[str, Any]) -> None:
    text = branch(producer)

    assert f'"producer" => "{producer["name"]}"' in text
    assert f'"[@metadata][index]" => "{producer["index"]}"' in text


@pytest.mark.parametrize("producer", EXAMPLE["producers"], ids=lambda p: p["name"])
def test_mandatory_fields_are_the_missing_field_condition(producer: dict[str, Any]) -> None:
    text = branch(producer)
    under_record = f'target => "{RECORD}"' in text
    match = re.search(r"\} else if (.+) \{\n.*=> \"missing_field\"", text)
    assert match is not None
    condition = match[1].split(" or ")

    assert under_record == (producer["parser"] in ("billing", "poolinfo"))
    assert len(condition) == 2 * len(producer["mandatory_fields"])
    for path in producer["mandatory_fields"]:
        ref = (RECORD if under_record else "") + "".join(f"[{p}]" for p in path.split("."))
        assert f"!{ref}" in condition
        assert f'{ref} == ""' in condition


def test_dead_letters_keep_only_the_dead_letter_fields_and_the_capped_payload() -> None:
    dead, _, _ = CONF.partition("  if [@metadata][error_type] {\n")[2].partition("\n  } else {\n")
    whitelist = re.search(r"prune \{ whitelist_names => (\[.*\]) \}", dead)
    assert whitelist is not None
    properties = effective_mappings(RESOURCES, "esbridge-deadletter")["properties"]
    payload_max = parse_size(EXAMPLE["deadletter"]["payload_max_bytes"])
    written = written_fields(dead)

    assert {name.strip("^$") for name in json.loads(whitelist[1])} == set(properties)
    assert {"error.type", "error.message", "deadletter.payload", "deadletter.truncated"} <= written
    assert all(lookup(properties, path) for path in written)
    assert f"raw.byteslice(0, {payload_max})" in dead


def test_documents_get_the_envelope_with_the_capped_original() -> None:
    tail = CONF.partition("  if [@metadata][error_type] {\n")[2]
    documents = tail.partition("\n  } else {\n")[2].partition("\noutput {")[0]
    head = CONF.partition("filter {\n")[2].partition("\n  if ")[0]
    original_max = parse_size(EXAMPLE["ingest"]["original_max_bytes"])

    assert written_fields(documents) == {"event.original", "event.truncated", "event.ingested"}
    assert written_fields(head) == {"kafka.topic", "kafka.partition", "kafka.offset"}
    for path in written_fields(documents) | written_fields(head):
        assert mapped("esbridge-billing", "envelope", path), path
    assert f"raw.byteslice(0, {original_max})" in documents
    assert 'codec => plain { ecs_compatibility => "disabled" }' in CONF


@pytest.mark.parametrize("parser", ["billing", "poolinfo"])
def test_every_field_the_branch_writes_is_mapped(parser: str) -> None:
    written = written_fields(branch(BY_PARSER[parser]))
    # esbridge writes it too (pool_mode_fields, when a mode carries `: reason`); the poolinfo
    # index maps it through its string dynamic template only.
    reason = parse_poolinfo({"pool": "p", "@timestamp": DATE, "mode": "disabled(): r"}, CTX)
    also_by_esbridge = {"dcache.pool.reason"} if dig(reason, "dcache.pool.reason") else set()

    assert len(written) > 10
    unmapped = {p for p in written if not mapped(f"esbridge-{parser}", parser, p)}
    assert unmapped <= also_by_esbridge


# --- billing: the tables of esbridge/transforms/billing.py ---------------------------------------

BILLING = branch(BY_PARSER["billing"])
SENTINELS: dict[str, Any] = {
    "msgType": "remove",
    "status": {"code": 10006, "msg": "Mover timed out"},
    "subject": ["Unknown[x]"],
} | dict.fromkeys(billing.DURATIONS, "PT1.5S")


def test_billing_moves_every_renamed_and_duration_key_to_the_parsers_field() -> None:
    moved = renames(BILLING)

    for key, name in {**billing.RENAMED, **billing.DURATIONS}.items():
        assert moved.get(key) == f"[billing][{name}]", key
    assert ruby_value(BILLING, "durations") == [
        f"[billing][{name}]" for name in billing.DURATIONS.values()
    ]


@pytest.mark.parametrize(("key", "target"), sorted(renames(BILLING).items()))
def test_billing_rename_puts_the_value_where_parse_billing_does(key: str, target: str) -> None:
    value = SENTINELS.get(key, f"value of {key}")
    doc = parse_billing({"msgType": "transfer", "date": DATE, key: value}, CTX)

    expected = timestamps.iso_duration_ms(value) if key in billing.DURATIONS else value
    assert dig(doc, dotted(target)) == expected


def test_billing_handled_keys_and_taken_names_are_the_parsers() -> None:
    moved = renames(BILLING)

    assert set(ruby_value(BILLING, "handled")) == billing.HANDLED
    assert set(ruby_value(BILLING, "taken")) == billing.TAKEN
    for key in billing.HANDLED:  # each is used, none dropped unseen
        assert key in moved or f'record["{key}"]' in BILLING or f"{RECORD}[{key}]" in BILLING


def test_billing_principals_land_where_parse_billing_puts_them() -> None:
    principals = ruby_value(BILLING, "principals")
    primary_only, primary = ruby_value(BILLING, "primary_only"), ruby_value(BILLING, "primary")

    assert set(principals) == set(billing.PRINCIPAL_FIELDS)
    for kind, field in principals.items():
        value = "2001:638:700::17" if kind == "Origin" else "4021"
        marked = f"{kind}[{value}{primary}]" if kind in primary_only else f"{kind}[{value}]"
        record = {"msgType": "transfer", "date": DATE}
        assert dig(parse_billing(record | {"subject": [marked]}, CTX), dotted(field)) == value
        bare = dig(parse_billing(record | {"subject": [f"{kind}[{value}]"]}, CTX), dotted(field))
        assert (bare is None) == (kind in primary_only), kind


def test_billing_regexes_are_the_parsers_after_the_documented_translation() -> None:
    duration, hump = ruby_value(BILLING, "duration"), ruby_value(BILLING, "hump")

    translated = timestamps.DURATION_PATTERN.pattern.replace("(?P<", "(?<")
    assert duration == r"\A(?:" + translated + r")\z"
    assert hump == billing.CAMEL_HUMP.pattern
    unanchored = duration.removeprefix(r"\A").removesuffix(r"\z")
    as_python = re.compile(re.sub(r"\(\?<(?=\w)", "(?P<", unanchored), re.ASCII)
    for text in ("PT0.0764S", "PT-1M-30S", "P1DT2H", "-PT1S", "PT1,5S", "1S", "PT1.S", "PTS"):
        try:
            timestamps.iso_duration_ms(text)
        except ParseError:
            accepted = False
        else:
            accepted = True
        assert (as_python.fullmatch(text) is not None) == accepted, text
    for key in ("mappedUID", "user-agent", "transferTag", "HTTPVersion", "isP2p"):
        assert re.sub(hump, "_", key).replace("-", "_").lower() == snake_case(key)


# --- poolinfo: the table of esbridge/transforms/poolinfo.py --------------------------------------

POOLINFO = branch(BY_PARSER["poolinfo"])


def test_poolinfo_moves_every_renamed_key_to_the_parsers_field() -> None:
    moved = renames(POOLINFO)

    for key, name in poolinfo.RENAMED.items():
        target = "".join(f"[{part}]" for part in f"dcache.pool.{name}".split("."))
        assert moved.get(key) == target, key


@pytest.mark.parametrize(("key", "target"), sorted(renames(POOLINFO).items()))
def test_poolinfo_rename_puts_the_value_where_parse_poolinfo_does(key: str, target: str) -> None:
    value = "enabled" if key == "mode" else f"value of {key}"
    doc = parse_poolinfo({"pool": "p", "@timestamp": DATE, key: value}, CTX)

    assert dig(doc, dotted(target)) == value
