"""Watch rules: loading (config and rules_dir), errors, the dCache pack on real lines, queries."""

from __future__ import annotations

import json
import textwrap
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from esbridge.config import ConfigError, load_config
from esbridge.config.watch import RuleConfig, WatchConfig
from esbridge.transforms import PARSERS, ParseContext
from esbridge.watch.lifecycle import Issue, Subject, needs_notification, observe, resolve
from esbridge.watch.match import field_values, matches, occurrence_of, resolves, subject_of, words
from esbridge.watch.policy import rule_policy
from esbridge.watch.query import resolve_query, rule_query, window_start
from tests.helpers.paths import EXAMPLE_CONFIG as EXAMPLE

BERLIN = ParseContext(producer="logs", log_timezone=ZoneInfo("Europe/Berlin"))

CONFIG = """\
kafka:
  bootstrap: 127.0.0.1:9092
elasticsearch:
  hosts: http://127.0.0.1:9200
producers:
  - name: logs
    topics: [dcache-logs]
    parser: logs
    index: dcache-logs
watch:
  rules_dir: rules
"""

RULE = """\
- name: pool-disabled
  type: PoolDisabled
  producer: logs
  match:
    phrase: Pool mode changed to disabled
"""


def rule(**fields: Any) -> RuleConfig:
    base: dict[str, Any] = {
        "name": "r",
        "type": "PoolDisabled",
        "producer": "logs",
        "match": {"phrase": "Pool mode changed to disabled"},
    }
    return RuleConfig.model_validate(base | fields)


def log_doc(line: str, domain: str = "pool-aDomain", host: str = "node1") -> dict[str, Any]:
    """A journald event carrying `line` (after the date and cell), parsed as the bridge does."""
    cell, _, text = line.partition(" ")
    event = {
        "@timestamp": "2026-10-14T08:00:00.000Z",
        "message": f"14 Oct 2026 10:00:00 ({cell}) [] {text}",
        "host": {"name": host},
        "syslog": {"identifier": f"dcache@{domain}"},
    }
    return PARSERS["logs"](event, BERLIN)


@pytest.fixture(scope="module")
def pack() -> dict[str, RuleConfig]:
    config = load_config(EXAMPLE, {})
    assert config.watch is not None
    return {r.name: r for r in config.watch.rules}


@pytest.fixture(scope="module")
def samples(samples_dir: Path) -> list[dict[str, Any]]:
    lines = (samples_dir / "logs.jsonl").read_text().splitlines()
    return [PARSERS["logs"](json.loads(line), BERLIN) for line in lines if line.strip()]


@pytest.fixture
def site(tmp_path: Path) -> Path:
    (tmp_path / "rules").mkdir()
    path = tmp_path / "esbridge.yml"
    path.write_text(CONFIG)
    return path


def write_rules(site: Path, text: str, name: str = "site.yml") -> Path:
    path = site.parent / "rules" / name
    path.write_text(textwrap.dedent(text))
    return path


def load_error(path: Path) -> str:
    with pytest.raises(ConfigError) as caught:
        load_config(path, {})
    return str(caught.value)


# --- loading ----------------------------------------------------------------------------------


def test_the_example_config_loads_the_dcache_rule_pack(pack: dict[str, RuleConfig]) -> None:
    assert {name: (r.type, r.status_class) for name, r in pack.items()} == {
        "pool-disabled": ("PoolDisabled", "normal"),
        "pool-read-only": ("PoolReadOnly", "normal"),
        "pool-fault-disabled": ("PoolFaultDisabled", "normal"),
        "pool-restart-required": ("PoolRestartRequired", "normal"),
        "pool-init-failed": ("PoolInitFailed", "no-delay"),
        "pool-declared-down": ("PoolDeclaredDown", "no-delay"),
        "repository-fault": ("RepositoryFault", "normal"),
        "fatal-jvm-error": ("FatalJvmError", "temporary"),
        "broken-file": ("BrokenFile", "oddity"),
        "kafka-send-failure": ("KafkaSendFailure", "oddity"),
    }
    assert all(r.producer == "logs" for r in pack.values())


def test_the_example_config_keeps_the_default_clocks() -> None:
    watch = load_config(EXAMPLE, {}).watch

    assert watch is not None
    assert watch.model_dump(exclude={"rules", "rules_dir"}) == WatchConfig().model_dump(
        exclude={"rules", "rules_dir"}
    )
    assert watch.rules_dir == EXAMPLE.parent / "rules"


def test_watch_defaults_and_a_rules_policy() -> None:
    watch = WatchConfig()
    override = rule(status_class="oddity", ttl="1d", finalize_after="2h")

    assert (watch.issues_index, watch.interval, watch.lag, watch.since) == (
        "esbridge-issues",
        60.0,
        120.0,
        3600.0,
    )
    policy = rule_policy(watch, override)
    assert (policy.rule, policy.type, policy.status_class) == ("r", "PoolDisabled", "oddity")
    assert policy.notification_delay == timedelta(minutes=10)
    assert policy.stale_after == timedelta(days=7)
    assert (policy.finalize_after, policy.delete_after) == (timedelta(hours=2), timedelta(hours=1))
    assert policy.ttl == timedelta(days=1)


def test_rules_dir_is_relative_to_the_config_file(
    site: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_rules(site, RULE)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)

    watch = load_config(site, {}).watch

    assert watch is not None
    assert [r.name for r in watch.rules] == ["pool-disabled"]


def test_rules_come_from_the_config_and_every_rules_file_in_name_order(site: Path) -> None:
    site.write_text(CONFIG + "  rules:\n" + textwrap.indent(RULE.replace("pool-", "own-"), "    "))
    write_rules(site, RULE.replace("pool-", "b-"), "b.yml")
    write_rules(site, "rules:\n" + textwrap.indent(RULE.replace("pool-", "a-"), "  "), "a.yml")
    write_rules(site, "", "empty.yml")
    write_rules(site, RULE.replace("pool-", "ignored-"), "notes.txt")

    watch = load_config(site, {}).watch

    assert watch is not None
    assert [r.name for r in watch.rules] == ["own-disabled", "a-disabled", "b-disabled"]


# --- errors name the file, the line and the key -----------------------------------------------


def test_a_rule_naming_an_unknown_producer_is_an_error_at_its_key(site: Path) -> None:
    rules = write_rules(site, RULE.replace("producer: logs", "producer: log"))

    assert load_error(site) == (
        f"{rules}:3: [0].producer: not a producer's name: expected one of logs"
    )


def test_a_rule_with_both_phrase_and_regex_is_an_error_at_match(site: Path) -> None:
    rules = write_rules(site, RULE + "    regex: Pool mode.*\n")

    assert load_error(site) == f"{rules}:4: [0].match: give exactly one of phrase and regex"


def test_a_typo_key_in_a_rules_file_is_an_error_at_its_line(site: Path) -> None:
    rules = write_rules(site, RULE + "  statsu_class: normal\n")

    assert load_error(site) == f"{rules}:6: [0].statsu_class: unknown key"


def test_errors_in_a_rules_file_of_mapping_form_name_the_rules_key(site: Path) -> None:
    text = "rules:\n" + textwrap.indent(RULE, "  ") + "    status_class: sometimes\n"
    rules = write_rules(site, text)

    assert load_error(site) == (
        f"{rules}:7: rules[0].status_class: Input should be 'normal', 'temporary', 'oddity', "
        "'permanent' or 'no-delay'"
    )


def test_a_rules_file_with_other_top_level_keys_is_an_error(site: Path) -> None:
    rules = write_rules(site, "rulez:\n" + textwrap.indent(RULE, "  "))

    assert load_error(site).splitlines() == [
        f"{rules}:1: rulez: unknown key: only rules is allowed",
        f"{rules}:1: rules: expected a list of rules",
    ]


def test_a_rules_file_holding_a_single_value_is_an_error(site: Path) -> None:
    rules = write_rules(site, "pool-disabled\n")

    assert load_error(site) == (
        f"{rules}:1: expected a list of rules, or a mapping with the key rules"
    )


def test_a_yaml_error_in_a_rules_file_names_that_file(site: Path) -> None:
    rules = write_rules(site, RULE + "  match: [\n")

    assert load_error(site).startswith(f"{rules}:")


def test_rules_file_errors_follow_the_config_files_own(site: Path) -> None:
    site.write_text(CONFIG + "  interval: often\n")
    rules = write_rules(site, RULE + "  statsu_class: normal\n")

    assert load_error(site).splitlines() == [
        f"{site}:12: watch.interval: expected seconds as a number or a duration such as "
        "500ms, 1s, 2m, 1h, 1d",
        f"{rules}:6: [0].statsu_class: unknown key",
    ]


def test_errors_in_the_configs_own_rules_point_at_the_config(site: Path) -> None:
    site.write_text(CONFIG + "  rules:\n" + textwrap.indent(RULE, "    ").replace("logs\n", "x\n"))

    assert load_error(site) == (
        f"{site}:15: watch.rules[0].producer: not a producer's name: expected one of logs"
    )


def test_rule_names_are_unique_across_files(site: Path) -> None:
    write_rules(site, RULE, "a.yml")
    second = write_rules(site, RULE, "b.yml")

    assert load_error(site) == f"{second}:1: [0].name: an earlier rule has this name"


def test_a_missing_rules_dir_is_an_error_at_its_key(site: Path) -> None:
    site.write_text(CONFIG.replace("rules_dir: rules", "rules_dir: no-such-rules"))

    assert load_error(site) == f"{site}:11: watch.rules_dir: no such folder"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "  status_class: temporary\n  resolve: {phrase: enabled}\n",
            "[0].resolve: not used with status_class temporary",
        ),
        ("  ttl: 1h\n", "[0].ttl: not used with status_class normal"),
        (
            "  status_class: oddity\n  notification_delay: 5m\n",
            "[0].notification_delay: not used with status_class oddity",
        ),
        (
            "  status_class: permanent\n  finalize_after: 1d\n",
            "[0].finalize_after: not used with status_class permanent",
        ),
        (
            "  resolve: {regex: 'enabled\\d'}\n",
            "[0].resolve.regex: \\d means something else to Elasticsearch (Lucene)",
        ),
        ("  resolve: {regex: '^enabled'}\n", "[0].resolve.regex: ^ means something else"),
        (
            "  resolve: {regex: enabled, field: message}\n",
            "[0].resolve.field: a regex matches a whole value: use message.keyword",
        ),
        ("  resolve: {regex: 'enabled('}\n", "[0].resolve.regex: not a valid regular expression"),
        (
            "  subject: {regex: 'Pool (\\S+)'}\n",
            "[0].subject.regex: needs a named group (?P<subject>...) for the subject",
        ),
        ("  action: {command: []}\n", "[0].action.command: must list the program"),
        (
            "  action: {command: [restart, '{poool}']}\n",
            "[0].action.command[1]: placeholders are {domain}, {host}, {pool}, {rule}, "
            "{subject}, {type}",
        ),
    ],
)
def test_rule_settings_are_checked(site: Path, text: str, expected: str) -> None:
    rules = write_rules(site, RULE + text)

    error = load_error(site)

    assert error.startswith(f"{rules}:")
    assert expected in error


def test_a_rule_name_is_a_lowercase_identifier(site: Path) -> None:
    rules = write_rules(site, RULE.replace("name: pool-disabled", "name: Pool Disabled"))

    assert load_error(site).startswith(f"{rules}:1: [0].name: expected 1-64 of a-z")


def test_the_default_notification_delay_is_at_most_15_minutes(site: Path) -> None:
    site.write_text(CONFIG + "  notification_delay: 16m\n")

    assert load_error(site) == (
        f"{site}:12: watch.notification_delay: must be at most 15m; "
        "give a longer delay to single rules if needed"
    )


def test_claim_timeout_defaults_to_ten_minutes_and_must_be_positive(site: Path) -> None:
    site.write_text(CONFIG)
    watch = load_config(site, {}).watch
    assert watch is not None
    assert watch.claim_timeout == 600.0

    site.write_text(CONFIG + "  claim_timeout: 0s\n")

    assert load_error(site).startswith(f"{site}:12: watch.claim_timeout: ")


def test_a_single_rule_may_wait_longer(site: Path) -> None:
    write_rules(site, RULE + "  notification_delay: 1h\n")

    watch = load_config(site, {}).watch

    assert watch is not None
    assert rule_policy(watch, watch.rules[0]).notification_delay == timedelta(hours=1)


@pytest.mark.parametrize(
    ("index", "expected"),
    [
        ("dcache-logs", "same as a producer's or deadletter.index"),
        ("Issues", "expected a lowercase index name"),
    ],
)
def test_the_issues_index_is_a_valid_index_of_its_own(
    site: Path, index: str, expected: str
) -> None:
    site.write_text(CONFIG + f"  issues_index: {index}\n")

    assert load_error(site).startswith(f"{site}:12: watch.issues_index: {expected}")


def test_an_action_takes_placeholders_and_literal_braces(site: Path) -> None:
    write_rules(
        site, RULE + "  action: {command: [notify, '{pool}@{host}', '{{x}}'], rate_limit: 0}\n"
    )

    watch = load_config(site, {}).watch

    assert watch is not None
    action = watch.rules[0].action
    assert action is not None
    assert (action.command, action.rate_limit, action.timeout) == (
        ("notify", "{pool}@{host}", "{{x}}"),
        0.0,
        60.0,
    )
    assert action.rerun_after_crash is False, "a run of unknown outcome is not repeated"


def test_rerun_after_crash_is_a_boolean(site: Path) -> None:
    write_rules(site, RULE + "  action: {command: [notify], rerun_after_crash: true}\n")
    watch = load_config(site, {}).watch
    assert watch is not None and watch.rules[0].action is not None
    assert watch.rules[0].action.rerun_after_crash is True

    rules = write_rules(site, RULE + "  action: {command: [notify], rerun_after_crash: 'once'}\n")

    error = load_error(site)
    assert error.startswith(f"{rules}:")
    assert "[0].action.rerun_after_crash: " in error


# --- the dCache pack on real lines ------------------------------------------------------------

SAMPLE_MATCHES = {
    "pool-disabled": [0, 1, 2, 5, 7],
    "pool-read-only": [],
    "pool-fault-disabled": [5, 6],
    "pool-restart-required": [],
    "pool-init-failed": [],
    "pool-declared-down": [8],
    "repository-fault": [6],
    "fatal-jvm-error": [9],
    "broken-file": [],
    "kafka-send-failure": [],
}
"""Which lines of shared/samples/logs.jsonl each rule finds: 0-3 a restart (then 4, PoolManager's
echo), 5-6 a fault, 7 an operator, 8 a pool declared down, 9 an OOM, 10 a JVM launcher line."""


def test_every_rule_of_the_pack_is_checked_against_the_samples(
    pack: dict[str, RuleConfig],
) -> None:
    assert set(SAMPLE_MATCHES) == set(pack)


@pytest.mark.parametrize("name", list(SAMPLE_MATCHES))
def test_each_rule_finds_exactly_its_sample_lines(
    pack: dict[str, RuleConfig], samples: list[dict[str, Any]], name: str
) -> None:
    found = [i for i, doc in enumerate(samples) if matches(pack[name], doc)]

    assert found == SAMPLE_MATCHES[name]


@pytest.mark.parametrize("name", list(SAMPLE_MATCHES))
def test_each_rule_resolves_on_the_pool_and_poolmanager_enabled_lines_if_at_all(
    pack: dict[str, RuleConfig], samples: list[dict[str, Any]], name: str
) -> None:
    found = [i for i, doc in enumerate(samples) if resolves(pack[name], doc)]

    expected = [] if name in ("fatal-jvm-error", "broken-file", "kafka-send-failure") else [3, 4]
    assert found == expected
    assert [subject_of(pack[name], samples[i]) for i in found] == [
        Subject("dcache-xfel497-01", "dcache-xfel497-01", "dcache-xfel497-01Domain", "xfel497"),
        Subject("dcache-xfel497-01", "dcache-xfel497-01", "dCacheDomain", "dcache-head01"),
    ][: len(found)]


@pytest.mark.parametrize(
    ("name", "index", "subject"),
    [
        (
            "pool-disabled",
            7,
            Subject("cms-pool018", "cms-pool018", "cms-pool018Domain", "cmsnode018"),
        ),
        (
            "pool-fault-disabled",
            6,
            Subject("cms-pool017", "cms-pool017", "cms-pool017Domain", "cmsnode017"),
        ),
        (
            "repository-fault",
            6,
            Subject("cms-pool017", "cms-pool017", "cms-pool017Domain", "cmsnode017"),
        ),
        (
            "pool-declared-down",
            8,
            Subject("sync-pool09", "sync-pool09", "dCacheDomain", "dcache-head01"),
        ),
        (
            "fatal-jvm-error",
            9,
            Subject("sync-pool03Domain", None, "sync-pool03Domain", "syncnode03"),
        ),
    ],
)
def test_each_rule_names_the_subject_of_its_sample_lines(
    pack: dict[str, RuleConfig],
    samples: list[dict[str, Any]],
    name: str,
    index: int,
    subject: Subject,
) -> None:
    assert subject_of(pack[name], samples[index]) == subject


FAULT_WITH_CAUSE = (
    "pool-a Pool: pool-a, fault occurred in repository: Internal repository error. "
    "Pool restart required: , cause: java.io.IOException: No space left on device"
)


@pytest.mark.parametrize(
    ("name", "line", "subject"),
    [
        (
            "pool-read-only",
            "pool-a Pool mode changed to disabled(store,p2p-client): Pool read-only: "
            "Failed to write meta data",
            "pool-a",
        ),
        (
            "pool-restart-required",
            "pool-a Pool mode changed to disabled(fetch,store,stage,p2p-client,p2p-server,dead): "
            "Pool restart required: Internal repository error",
            "pool-a",
        ),
        ("pool-restart-required", FAULT_WITH_CAUSE, "pool-a"),
        ("repository-fault", FAULT_WITH_CAUSE, "pool-a"),
        (
            "pool-init-failed",
            "pool-a Pool pool-a initialization failed, repository reported a problem.Please "
            "report this to support@dcache.org.",
            "pool-a",
        ),
        (
            "pool-init-failed",
            "pool-a Pool pool-a initialization failed, repository reported a problem (disk).",
            "pool-a",
        ),
        (
            "broken-file",
            "pool-a Marking 0000A1B2C3D4E5F6A7B8C9D0E1F2A3B4C5D6 on pool-a as BROKEN: "
            "Checksum mismatch",
            "pool-a",
        ),
        (
            "kafka-send-failure",
            "pool-a Failed to send message to kafka: org.apache.kafka.common.errors."
            "TimeoutException: Topic billing not present in metadata after 60000 ms.",
            "pool-aDomain",
        ),
        (
            "pool-disabled",
            "pool-a Pool mode changed to disabled(fetch,store,stage,p2p-client,p2p-server): "
            "Init failed: no such table",
            "pool-a",
        ),
    ],
)
def test_each_rule_finds_dcache_lines_the_samples_lack(
    pack: dict[str, RuleConfig], name: str, line: str, subject: str
) -> None:
    doc = log_doc(line)

    assert matches(pack[name], doc)
    found = subject_of(pack[name], doc)
    assert found is not None
    assert found.name == subject


def test_the_rules_ignore_poolmanagers_echo_of_a_disable(pack: dict[str, RuleConfig]) -> None:
    doc = log_doc(
        "PoolManager Pool pool-a changed from mode enabled  to disabled().", "dCacheDomain"
    )

    assert [name for name, r in pack.items() if matches(r, doc)] == []


def test_a_sample_restart_ends_resolved_and_never_notified(
    pack: dict[str, RuleConfig], samples: list[dict[str, Any]]
) -> None:
    rule_ = pack["pool-disabled"]
    policy = rule_policy(WatchConfig(), rule_)
    issue: Issue | None = None
    for doc in samples[:5]:
        occurrence = occurrence_of(rule_, doc)
        assert occurrence is not None
        if matches(rule_, doc):
            issue = observe(issue, occurrence, policy)
        elif issue is not None and resolves(rule_, doc):
            issue = resolve(issue, occurrence.at, occurrence.message)
        assert issue is not None
        assert not needs_notification(issue, policy, occurrence.at)

    assert issue is not None
    assert (issue.status, issue.count) == ("resolved", 3)
    assert issue.resolved_at == datetime(2026, 10, 14, 7, 52, 3, tzinfo=UTC)
    assert not needs_notification(issue, policy, issue.first_seen + timedelta(hours=1))


def test_an_occurrence_carries_the_lines_time_message_and_subject(
    pack: dict[str, RuleConfig], samples: list[dict[str, Any]]
) -> None:
    occurrence = occurrence_of(pack["pool-declared-down"], samples[8])

    assert occurrence is not None
    assert occurrence.at == datetime(2026, 10, 14, 8, 30, tzinfo=UTC)
    assert occurrence.message == "Pool sync-pool09 declared as DOWN: no ping in 600 seconds."
    assert occurrence.subject.name == "sync-pool09"


def test_a_line_without_a_subject_is_no_occurrence(pack: dict[str, RuleConfig]) -> None:
    doc = {"@timestamp": "2026-10-14T08:00:00.000Z", "message": "Pool mode changed to disabled()"}

    assert subject_of(pack["pool-disabled"], doc) is None
    assert occurrence_of(pack["pool-disabled"], doc) is None


# --- the matcher ------------------------------------------------------------------------------


def test_a_phrase_matches_whole_words_in_order_whatever_the_case() -> None:
    phrase = rule(match={"phrase": "POOL mode changed to DISABLED"})

    assert matches(phrase, {"message": "Pool mode changed to disabled(): Operator"})
    assert not matches(phrase, {"message": "Pool mode changed to disabledx"})
    assert matches(phrase, {"message": "Pool mode changed, to disabled"})
    assert not matches(phrase, {"message": "mode changed to disabled Pool"})


def test_words_split_as_the_standard_analyzer_does() -> None:
    assert words("disabled(fetch,p2p-client): I/O java.lang.Error: don't 09:49") == [
        "disabled",
        "fetch",
        "p2p",
        "client",
        "i",
        "o",
        "java.lang.error",
        "don't",
        "09",
        "49",
    ]


def test_a_regex_must_match_the_whole_keyword_value() -> None:
    regex = rule(match={"regex": "Marking .* as BROKEN.*"})

    assert matches(regex, {"message": "Marking 0000AB on pool-a as BROKEN: checksum"})
    assert not matches(regex, {"message": "Now: Marking 0000AB on pool-a as BROKEN"})


def test_filters_are_exact_terms_that_may_hit_any_array_element() -> None:
    filtered = rule(match={"phrase": "mode", "filters": {"dcache.pool.flags": "dead", "x.ok": 1}})

    doc: dict[str, Any] = {"message": "mode", "dcache": {"pool": {"flags": ["fetch", "dead"]}}}
    assert not matches(filtered, doc)
    assert matches(filtered, doc | {"x": {"ok": 1}})
    assert not matches(filtered, doc | {"x": {"ok": True}})
    assert not matches(filtered, doc | {"x": {"ok": 1}, "dcache": {"pool": {"flags": "deadx"}}})


def test_fields_are_found_through_objects_arrays_dotted_keys_and_multi_fields() -> None:
    doc = {"a": [{"b": 1}, {"b": [2, None]}], "dcache.pool": {"name": "p"}, "message": "m"}

    assert field_values(doc, "a.b") == [1, 2]
    assert field_values(doc, "dcache.pool.name") == ["p"]
    assert field_values(doc, "message.keyword") == ["m"]
    assert field_values(doc, "missing.field") == []


def test_the_subject_regex_wins_over_the_subject_field() -> None:
    by_regex = rule(subject={"regex": "on (?P<subject>\\S+) as"})
    doc = {"message": "Marking x on pool-b as BROKEN", "dcache": {"pool": {"name": "pool-a"}}}

    assert subject_of(by_regex, doc) == Subject("pool-b", "pool-b")
    assert subject_of(by_regex, doc | {"message": "other"}) == Subject("pool-a", "pool-a")


def test_a_subject_picks_up_pool_groups() -> None:
    doc = {"dcache": {"pool": {"name": "p", "groups": ["cms", "default"]}, "domain": "pDomain"}}

    assert subject_of(rule(), doc) == Subject("p", "p", "pDomain", None, ("cms", "default"))


# --- Elasticsearch queries --------------------------------------------------------------------

START = datetime(2026, 10, 14, 8, 0, tzinfo=UTC)
END = START + timedelta(minutes=1, microseconds=500)
RANGE = {
    "gte": "2026-10-14T08:00:00.000Z",
    "lt": "2026-10-14T08:01:00.000Z",
    "format": "strict_date_optional_time",
}
WINDOW = {
    "bool": {
        "should": [
            {"range": {"event.ingested": RANGE}},
            {
                "bool": {
                    "must_not": [{"exists": {"field": "event.ingested"}}],
                    "filter": [{"range": {"@timestamp": RANGE}}],
                }
            },
        ],
        "minimum_should_match": 1,
    }
}
"""Ingested in the window; a document without an ingest time, logged in it."""
SOURCE = [
    "@timestamp",
    "message",
    "dcache.pool.name",
    "dcache.domain",
    "host.name",
    "dcache.pool.groups",
]


def test_a_phrase_rule_asks_for_a_match_phrase_in_the_window(pack: dict[str, RuleConfig]) -> None:
    assert rule_query(pack["pool-disabled"], START, END) == {
        "query": {
            "bool": {
                "filter": [
                    WINDOW,
                    {"match_phrase": {"message": "Pool mode changed to disabled"}},
                ]
            }
        },
        "sort": [{"@timestamp": {"order": "asc"}}],
        "_source": SOURCE,
    }


def test_a_regex_rule_asks_for_a_literal_regexp_on_the_keyword(
    pack: dict[str, RuleConfig],
) -> None:
    body = rule_query(pack["broken-file"], START, END)

    assert body["query"]["bool"]["filter"] == [
        WINDOW,
        {"regexp": {"message.keyword": {"value": "Marking .* on .* as BROKEN.*", "flags": "NONE"}}},
    ]


def test_filters_become_term_clauses() -> None:
    filtered = rule(
        match={"phrase": "x", "filters": {"dcache.pool.flags": "dead", "log.parsed": True}}
    )

    assert rule_query(filtered, START, END)["query"]["bool"]["filter"][2:] == [
        {"term": {"dcache.pool.flags": "dead"}},
        {"term": {"log.parsed": True}},
    ]


def test_the_resolve_query_asks_for_the_resolving_signature(pack: dict[str, RuleConfig]) -> None:
    body = resolve_query(pack["pool-disabled"], START, END)

    assert body is not None
    assert body["query"]["bool"]["filter"] == [
        WINDOW,
        {"regexp": {"dcache.pool.mode": {"value": "enabled", "flags": "NONE"}}},
    ]
    assert body["sort"] == [{"@timestamp": {"order": "asc"}}]


def test_a_rule_without_a_resolving_signature_has_no_resolve_query(
    pack: dict[str, RuleConfig],
) -> None:
    assert resolve_query(pack["fatal-jvm-error"], START, END) is None


def test_the_source_holds_what_the_subject_needs(pack: dict[str, RuleConfig]) -> None:
    body = rule_query(pack["fatal-jvm-error"], START, END)

    assert body["_source"] == [
        "@timestamp",
        "message",
        "dcache.domain",
        "dcache.pool.name",
        "host.name",
        "dcache.pool.groups",
    ]


def test_query_windows_need_aware_times() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        rule_query(rule(), datetime(2026, 10, 14), END)


def test_windows_follow_each_other_in_ingest_time_overlapping_by_the_lag() -> None:
    lag, since = timedelta(minutes=2), timedelta(hours=1)
    first = window_start(None, START, lag=lag, since=since)
    later = START + timedelta(minutes=10)  # ten minutes of cycles without a new document

    assert first == START - since
    assert window_start(START, later, lag=lag, since=since) == START - lag
    assert window_start(later, later, lag=lag, since=since) == later - lag


def test_a_checkpoint_ahead_of_the_clock_gives_an_empty_window() -> None:
    ahead = START + timedelta(hours=1)

    start = window_start(ahead, START, lag=timedelta(minutes=2), since=timedelta(hours=1))

    assert start == START
