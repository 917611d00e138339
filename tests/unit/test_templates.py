"""The rendered templates and policies, checked against docs/fields.md and ILM's policy schema.

The field contract is read from the markdown itself, so a field documented but not mapped (or
mapped with another type) fails here instead of drifting. ISM's schema is checked in
test_ism_policy.py; every body is installed on all four engines in
tests/integration/test_setup_engines.py.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest

from esbridge.setup.templates import (
    Resource,
    Target,
    bootstrap_index_name,
    content_hash,
    es_byte_size,
    es_time,
    esbridge_hash,
    render_resources,
)
from esbridge.watch.lifecycle import Issue, Subject
from tests.helpers.mappings import (
    ALL_FIELDS,
    ILM,
    ISM,
    PARSERS,
    PRODUCERS,
    SECTIONS,
    Deadletter,
    DocumentedField,
    Producer,
    by_name,
    dig,
    dynamic_mapping_for,
    effective_mappings,
    expected_mapping,
    field_cases,
    lookup,
    render,
    resolved_spec,
    walk_leaves,
)


def test_fields_md_parser_sees_every_section_and_expands_shorthands() -> None:
    paths = {(f.section, f.path): f.spec for f in ALL_FIELDS}
    assert {f.section for f in ALL_FIELDS} == set(SECTIONS.values())
    assert paths["billing", "billing.protocol.host"] == "ip"
    assert paths["billing", "billing.status.msg"] == "text+keyword"
    assert paths["envelope", "kafka.offset"] == "long"
    assert paths["poolinfo", "dcache.pool.space.gap"] == "long"
    assert paths["poolinfo", "dcache.pool.read_only"] == "boolean"
    assert paths["access", "access.response.code"] == "integer"
    assert paths["access", "access.duration"] == "long"
    assert paths["access", "access.session"] == "keyword"
    assert len(ALL_FIELDS) > 100


@pytest.mark.parametrize(("section", "field"), list(field_cases(dynamic=False)))
def test_documented_field_is_mapped_with_documented_type(
    section: str, field: DocumentedField
) -> None:
    mappings = effective_mappings(render(), f"esbridge-{section}")

    mapping = lookup(mappings["properties"], field.path)

    assert mapping is not None, f"{field.path} is not mapped for {section}"
    for key, value in expected_mapping(resolved_spec(field)).items():
        assert dig(mapping, key) == value, f"{field.path}: {key}"


@pytest.mark.parametrize(("section", "field"), list(field_cases(dynamic=True)))
def test_documented_dynamic_field_becomes_keyword(section: str, field: DocumentedField) -> None:
    """`keyword (dynamic template)` holds for any value; bare `dynamic templates` for strings."""
    mappings = effective_mappings(render(), f"esbridge-{section}")
    sample = re.sub(r"<\w+>|\*", "some_new_key", field.path)
    any_value = field.spec.startswith("keyword")
    json_types = ("string", "long", "double", "boolean") if any_value else ("string",)

    for json_type in json_types:
        mapping = dynamic_mapping_for(mappings, sample, json_type)
        assert mapping == {"type": "keyword", "ignore_above": 1024}, json_type


@pytest.mark.parametrize("parser", PARSERS)
def test_unknown_strings_become_keyword_and_floats_double(parser: str) -> None:
    mappings = effective_mappings(render(), f"esbridge-{parser}")
    assert mappings["date_detection"] is False
    string_mapping = dynamic_mapping_for(mappings, "vendor.new_field", "string")
    assert string_mapping == {"type": "keyword", "ignore_above": 1024}
    assert dynamic_mapping_for(mappings, "vendor.ratio", "double") == {"type": "double"}


def test_only_ip_fields_ignore_malformed_values() -> None:
    resources = render()
    leaves = [
        (path, mapping)
        for body in by_name(resources, "component_template").values()
        for path, mapping in walk_leaves(body["template"]["mappings"].get("properties", {}))
    ]
    ip_fields = {path for path, mapping in leaves if mapping.get("type") == "ip"}
    tolerant = {path for path, mapping in leaves if mapping.get("ignore_malformed")}
    assert (
        ip_fields
        == tolerant
        == {
            "client.ip",
            "billing.protocol.host",
            "billing.local_endpoint.ip",
            "source.ip",
        }
    )
    settings = [
        r.body["template"].get("settings", {})
        for r in resources
        if r.kind in ("component_template", "index_template")
    ]
    assert all("index.mapping.ignore_malformed" not in s for s in settings)


def test_deadletter_index_accepts_unknown_fields_without_mapping_them() -> None:
    mappings = effective_mappings(render(), "esbridge-deadletter")
    assert mappings["dynamic"] is False
    assert mappings["dynamic_templates"] == []


def test_total_fields_limit_guard_comes_from_the_producer() -> None:
    producers = (replace(PRODUCERS[0], total_fields_limit=777), *PRODUCERS[1:])
    components = by_name(render(producers=producers), "component_template")
    assert components["esbridge-billing-mappings"]["template"]["settings"] == {
        "index.mapping.total_fields.limit": 777
    }
    assert components["esbridge-logs-mappings"]["template"]["settings"] == {
        "index.mapping.total_fields.limit": 1000
    }


# --- resources, names and order -----------------------------------------------------------------


TARGETS = [Target(), ILM, Target("opensearch"), ISM]


@pytest.mark.parametrize("target", TARGETS, ids=str)
def test_every_resource_renders_for_each_parser_in_install_order(target: Target) -> None:
    resources = render(target)
    names = [(r.kind, r.name) for r in resources]
    producers = [f"esbridge-{p}" for p in (*PARSERS, "deadletter")]
    policy = "ilm_policy" if target.distribution == "elasticsearch" else "ism_policy"
    assert names == [
        ("component_template", "esbridge-envelope"),
        *[("component_template", f"{n}-mappings") for n in producers],
        *[(policy, n) for n in producers],
        *[("index_template", n) for n in producers],
        *[("write_alias", f"dcache-{p}") for p in PARSERS],
        ("write_alias", "esbridge-deadletter"),
    ]
    for resource in resources:
        assert json.loads(json.dumps(resource.body)) == resource.body


def test_prefix_starts_every_template_and_policy_name() -> None:
    resources = render_resources(PRODUCERS, Deadletter(), target=ILM, prefix="site-a")
    named = [r for r in resources if r.kind != "write_alias"]
    assert all(r.name.startswith("site-a-") for r in named)
    template = by_name(resources, "index_template")["site-a-logs"]
    assert template["composed_of"] == ["site-a-envelope", "site-a-logs-mappings"]
    assert template["template"]["settings"]["index.lifecycle.name"] == "site-a-logs"


def test_index_template_targets_the_rollover_indices_of_its_alias() -> None:
    producers = (replace(PRODUCERS[0], shards=3, replicas=2), *PRODUCERS[1:])
    template = by_name(render(producers=producers), "index_template")["esbridge-billing"]
    assert template["index_patterns"] == ["dcache-billing-*"]
    assert template["composed_of"] == ["esbridge-envelope", "esbridge-billing-mappings"]
    assert template["priority"] == 200
    assert template["template"]["settings"] == {
        "index.number_of_shards": 3,
        "index.number_of_replicas": 2,
    }


def test_index_templates_name_policy_and_alias_only_when_cluster_has_ilm() -> None:
    without = by_name(render(), "index_template")
    with_ilm = by_name(render(ILM), "index_template")
    for name, body in without.items():
        assert not any(k.startswith("index.lifecycle") for k in body["template"]["settings"]), name
    for name, body in with_ilm.items():
        settings = body["template"]["settings"]
        assert settings["index.lifecycle.name"] == name
        assert settings["index.lifecycle.rollover_alias"] == body["index_patterns"][0][:-2]


def test_index_templates_name_isms_rollover_alias_only_when_cluster_has_ism() -> None:
    """ISM attaches its policy by the policy's `ism_template`; its rollover action needs the
    alias as an index setting, which a cluster without the plugin rejects as unknown."""
    without = by_name(render(Target("opensearch")), "index_template")
    with_ism = by_name(render(ISM), "index_template")

    for name, body in without.items():
        assert not any(k.startswith("plugins.") for k in body["template"]["settings"]), name
    for name in ("esbridge-billing", "esbridge-deadletter"):
        settings = with_ism[name]["template"]["settings"]
        assert (
            settings["plugins.index_state_management.rollover_alias"]
            == (with_ism[name]["index_patterns"][0][:-2])
        )
        assert not any(k.startswith("index.lifecycle") for k in settings)


def test_every_bootstrap_index_says_whose_it_is_and_the_templates_do_not() -> None:
    """`esbridge maintain` deletes only indices whose mappings carry this `_meta`; setup gives
    it at creation, since a template's would reach any index matching its pattern."""
    resources = render()
    aliases = by_name(resources, "write_alias")

    for alias in ("dcache-logs", "esbridge-deadletter"):
        assert aliases[alias]["mappings"] == {
            "_meta": {"managed_by": "esbridge", "write_alias": alias}
        }
    for name, body in by_name(resources, "index_template").items():
        assert "_meta" not in body["template"].get("mappings", {}), name


@pytest.mark.parametrize("target", TARGETS, ids=str)
def test_mappings_are_the_same_on_every_engine(target: Target) -> None:
    """One set of mappings for all four engines: core types only (no `match_only_text`,
    `wildcard`, data-tier settings), so nothing differs but the lifecycle."""
    assert by_name(render(target), "component_template") == by_name(render(), "component_template")


def test_every_dynamic_template_matches_one_json_type() -> None:
    """OpenSearch refuses a list in `match_mapping_type` ("No field type matched on [[string,
    long, ...]]"); Elasticsearch has taken one since 8.9. One type per entry works on both."""
    for name, body in by_name(render(), "component_template").items():
        for entry in body["template"].get("mappings", {}).get("dynamic_templates", []):
            (template,) = entry.values()
            assert isinstance(template.get("match_mapping_type", "*"), str), name


def test_write_alias_bootstraps_the_first_rollover_index() -> None:
    aliases = by_name(render(), "write_alias")
    assert aliases["dcache-billing"]["aliases"] == {"dcache-billing": {"is_write_index": True}}
    assert bootstrap_index_name("dcache-billing") == "dcache-billing-000001"


def test_every_template_and_policy_is_stamped_with_a_hash_of_its_content() -> None:
    for resource in render(ILM):
        if resource.kind == "write_alias":
            continue
        holder = resource.body["policy"] if resource.kind == "ilm_policy" else resource.body
        meta = holder.pop("_meta")
        assert meta == {"managed_by": "esbridge", "esbridge_hash": content_hash(resource.body)}


def test_an_ism_policy_carries_its_hash_in_its_description() -> None:
    """ISM refuses unknown fields, `_meta` among them; the description is free text it keeps."""
    policy = by_name(render(ISM), "ism_policy")["esbridge-billing"]
    description = policy["policy"]["description"]
    digest = esbridge_hash("ism_policy", policy)

    assert "_meta" not in policy["policy"]
    assert description.endswith(f" [managed_by esbridge, esbridge_hash {digest}]")
    unstamped = {"policy": {**policy["policy"], "description": description.split(" [")[0]}}
    assert digest == content_hash(unstamped)


def test_the_ism_hash_is_read_back_from_a_policy_as_opensearch_stores_it() -> None:
    policy = by_name(render(ISM), "ism_policy")["esbridge-billing"]
    stored = {
        "policy": {
            **policy["policy"],
            "policy_id": "esbridge-billing",
            "last_updated_time": 1796169696055,
            "schema_version": 21,
            "error_notification": None,
        }
    }
    longer = (replace(PRODUCERS[0], retention_days=31), *PRODUCERS[1:])
    changed = by_name(render(ISM, longer), "ism_policy")["esbridge-billing"]

    assert esbridge_hash("ism_policy", stored) == esbridge_hash("ism_policy", policy)
    assert esbridge_hash("ism_policy", changed) != esbridge_hash("ism_policy", policy)
    assert esbridge_hash("ism_policy", {"policy": {"description": "someone else's"}}) is None


def test_a_target_names_only_its_own_engines_lifecycle_module() -> None:
    with pytest.raises(ValueError, match="opensearch has no ilm"):
        Target("opensearch", "ilm")
    with pytest.raises(ValueError, match="elasticsearch has no ism"):
        Target("elasticsearch", "ism")


def test_hash_is_stable_across_renders_and_changes_with_content() -> None:
    def hashes(resources: list[Resource]) -> dict[str, str]:
        return {r.name: r.body["_meta"]["esbridge_hash"] for r in resources if "_meta" in r.body}

    first, again = hashes(render()), hashes(render())
    changed = hashes(render(producers=(replace(PRODUCERS[0], replicas=1), *PRODUCERS[1:])))
    assert first == again
    assert {n for n in first if first[n] != changed[n]} == {"esbridge-billing"}
    assert content_hash({"a": 1, "b": 2}) == content_hash({"b": 2, "a": 1})


def test_producer_with_unknown_parser_is_rejected_naming_the_resource() -> None:
    odd = (Producer("gridftp", "gridftp", "dcache-gridftp"),)
    with pytest.raises(ValueError, match="component_template esbridge-gridftp-mappings"):
        render(producers=odd)


def test_two_producers_writing_one_index_are_rejected() -> None:
    twins = (PRODUCERS[0], replace(PRODUCERS[0], name="billing2"))
    with pytest.raises(ValueError, match="write_alias dcache-billing"):
        render(producers=twins)


@pytest.mark.parametrize(
    ("size", "text"), [(50 * 1024**3, "50gb"), (1536 * 1024**2, "1536mb"), (1000, "1000b")]
)
def test_byte_sizes_use_the_largest_exact_unit(size: int, text: str) -> None:
    assert es_byte_size(size) == text


@pytest.mark.parametrize(
    ("seconds", "text"), [(86400.0, "1d"), (43200.0, "12h"), (90.0, "90s"), (0.5, "500ms")]
)
def test_durations_use_the_largest_exact_unit(seconds: float, text: str) -> None:
    assert es_time(seconds) == text


# --- ILM policies against the put-lifecycle API's schema -----------------------------------------

PHASE_ACTIONS = {
    "hot": {"set_priority", "unfollow", "rollover", "readonly", "downsample", "shrink",
            "forcemerge", "searchable_snapshot"},
    "warm": {"set_priority", "unfollow", "readonly", "downsample", "allocate", "migrate",
             "shrink", "forcemerge"},
    "cold": {"set_priority", "unfollow", "readonly", "downsample", "searchable_snapshot",
             "allocate", "migrate", "freeze"},
    "frozen": {"unfollow", "searchable_snapshot"},
    "delete": {"wait_for_snapshot", "delete"},
}  # fmt: skip
ROLLOVER_CONDITIONS = {
    "max_age": "time", "max_docs": "count", "max_size": "bytes", "max_primary_shard_size": "bytes",
    "max_primary_shard_docs": "count", "min_age": "time", "min_docs": "count",
    "min_size": "bytes", "min_primary_shard_size": "bytes", "min_primary_shard_docs": "count",
}  # fmt: skip
TIME = re.compile(r"(\d+)(d|h|m|s|ms|micros|nanos)")
BYTES = re.compile(r"\d+(b|kb|mb|gb|tb|pb)")
TIME_IN_MS = {"d": 86_400_000, "h": 3_600_000, "m": 60_000, "s": 1000, "ms": 1}


def ilm_policy_problems(body: Mapping[str, Any]) -> list[str]:
    """What `PUT _ilm/policy/<name>` would reject in `body` (the timeseries lifecycle rules)."""
    problems = [f"unknown top-level key {k}" for k in body if k != "policy"]
    policy = body.get("policy", {})
    problems += [f"unknown policy key {k}" for k in policy if k not in {"phases", "_meta"}]
    if not isinstance(policy.get("_meta", {}), dict):
        problems.append("_meta must be an object")
    phases = policy.get("phases")
    if not isinstance(phases, dict) or not phases:
        return [*problems, "policy.phases must be a non-empty object"]
    ages: list[int] = []
    for phase, definition in phases.items():
        if phase not in PHASE_ACTIONS:
            problems.append(f"unknown phase {phase}")
            continue
        problems += [
            f"{phase}: unknown key {k}" for k in definition if k not in {"min_age", "actions"}
        ]
        min_age = definition.get("min_age", "0ms")
        age = TIME.fullmatch(min_age) if isinstance(min_age, str) else None
        if age is None:
            problems.append(f"{phase}: min_age {min_age!r} is not a time value")
        elif age[2] in TIME_IN_MS:
            ages.append(int(age[1]) * TIME_IN_MS[age[2]])
        problems += action_problems(phase, definition.get("actions"))
    if ages != sorted(ages):
        problems.append("phase min_age values must not decrease")
    return problems


def action_problems(phase: str, actions: object) -> list[str]:
    if not isinstance(actions, dict):
        return [f"{phase}: actions must be an object"]
    problems = [
        f"{phase}: action {a} not allowed" for a in actions if a not in PHASE_ACTIONS[phase]
    ]
    if "rollover" in actions:
        problems += rollover_problems(actions["rollover"])
    if "delete" in actions and set(actions["delete"]) - {"delete_searchable_snapshot"}:
        problems.append("delete: unknown option")
    return problems


def rollover_problems(conditions: Mapping[str, Any]) -> list[str]:
    problems = [
        f"rollover: unknown condition {c}" for c in conditions if c not in ROLLOVER_CONDITIONS
    ]
    if not any(c.startswith("max_") for c in conditions):
        problems.append("rollover: needs at least one max_* condition")
    for condition, value in conditions.items():
        unit = ROLLOVER_CONDITIONS.get(condition)
        if unit and not is_value_of_unit(unit, value):
            problems.append(f"rollover: {condition}={value!r} is not a {unit} value")
    return problems


def is_value_of_unit(unit: str, value: object) -> bool:
    if unit == "count":
        return isinstance(value, int) and value > 0
    pattern = TIME if unit == "time" else BYTES
    return isinstance(value, str) and pattern.fullmatch(value) is not None


@pytest.mark.parametrize("name", [f"esbridge-{p}" for p in (*PARSERS, "deadletter")])
def test_ilm_policy_is_a_valid_put_lifecycle_body(name: str) -> None:
    assert ilm_policy_problems(by_name(render(), "ilm_policy")[name]) == []


@pytest.mark.parametrize(
    "broken",
    [
        {"phases": {"lukewarm": {"actions": {}}}},
        {"phases": {"delete": {"min_age": "30d", "actions": {"rollover": {"max_age": "1d"}}}}},
        {"phases": {"hot": {"actions": {"rollover": {"max_age": "1d", "max_speed": 3}}}}},
        {"phases": {"hot": {"actions": {"rollover": {"min_docs": 1}}}}},
        {"phases": {"hot": {"actions": {"rollover": {"max_primary_shard_size": 50}}}}},
        {"phases": {"delete": {"min_age": 30, "actions": {"delete": {}}}}},
        {
            "phases": {
                "warm": {"min_age": "9d", "actions": {}},
                "delete": {"min_age": "1d", "actions": {}},
            }
        },
        {"phases": {}},
    ],
)
def test_ilm_checker_catches_what_elasticsearch_rejects(broken: dict[str, Any]) -> None:
    assert ilm_policy_problems({"policy": broken}) != []


def test_ilm_policy_rolls_over_and_deletes_per_the_producer_settings() -> None:
    producers = (
        replace(
            PRODUCERS[0],
            retention_days=400,
            rollover_max_primary_shard_size=20 * 1024**3,
            rollover_max_age=43200.0,
        ),
        *PRODUCERS[1:],
    )
    policies = by_name(render(producers=producers), "ilm_policy")
    phases = policies["esbridge-billing"]["policy"]["phases"]
    assert phases["hot"]["actions"] == {
        "rollover": {"max_primary_shard_size": "20gb", "max_age": "12h"}
    }
    assert phases["delete"] == {"min_age": "400d", "actions": {"delete": {}}}
    deadletter = policies["esbridge-deadletter"]["policy"]["phases"]
    assert deadletter["delete"]["min_age"] == "90d"


# --- the issues index --------------------------------------------------------------------------


def test_issues_resources_are_rendered_only_for_a_watch_section() -> None:
    without = render()
    with_watch = render_resources(PRODUCERS, Deadletter(), issues_index="my-issues")

    added = {(r.kind, r.name) for r in with_watch} - {(r.kind, r.name) for r in without}
    assert added == {
        ("component_template", "esbridge-issues-mappings"),
        ("index_template", "esbridge-issues"),
    }
    template = by_name(with_watch, "index_template")["esbridge-issues"]
    assert template["index_patterns"] == ["my-issues"]
    assert template["composed_of"] == ["esbridge-issues-mappings"]


def test_issues_mappings_cover_every_field_of_an_issue_document() -> None:
    at = datetime(2025, 3, 1, tzinfo=UTC)
    issue = Issue("r", "T", Subject("p"), "unresolved", "normal", at, at, at, 1, "m")
    resources = render_resources(PRODUCERS, Deadletter(), issues_index="i")
    mapped = by_name(resources, "component_template")["esbridge-issues-mappings"]
    properties = mapped["template"]["mappings"]["properties"]

    assert set(issue.to_doc()) <= set(properties)
    assert set(issue.to_doc()["subject"]) <= set(properties["subject"]["properties"])
    assert properties["last_seen"]["type"] == "date"
    assert properties["latest_message"]["fields"]["keyword"]["type"] == "keyword"
