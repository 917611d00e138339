"""The ISM policy and rollover-alias setting OpenSearch gets, checked against ISM's schema.

No test distribution has the ISM plugin, so the bodies `esbridge setup` renders for an
OpenSearch with ISM are checked here against the request schema OpenSearch documents for
`PUT _plugins/_ism/policies/<id>` (Index State Management, "Policies": `description`,
`default_state`, `states` of actions and transitions, `ism_template`), and against the ILM
policy of the same producer: both must roll over and delete at the same thresholds.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

import pytest

from esbridge.setup.templates import bootstrap_index_name, render_resources
from tests.helpers.mappings import ISM, PRODUCERS, Deadletter, Producer, by_name, render

POLICY_KEYS = {
    "policy_id", "description", "last_updated_time", "schema_version", "error_notification",
    "default_state", "states", "ism_template",
}  # fmt: skip
ACTIONS = {
    "force_merge", "read_only", "read_write", "replica_count", "shrink", "close", "open",
    "delete", "rollover", "notification", "snapshot", "index_priority", "allocation", "rollup",
    "transform", "alias",
}  # fmt: skip
ACTION_OPTIONS = {"timeout", "retry"}
ROLLOVER_CONDITIONS = {
    "min_size": "bytes", "min_primary_shard_size": "bytes", "min_doc_count": "count",
    "min_index_age": "time",
}  # fmt: skip
TRANSITION_CONDITIONS = {
    "min_index_age": "time", "min_rollover_age": "time", "min_doc_count": "count",
    "min_size": "bytes", "cron": "cron",
}  # fmt: skip
TIME = re.compile(r"\d+(d|h|m|s|ms|micros|nanos)")
BYTES = re.compile(r"\d+(b|kb|mb|gb|tb|pb)")


def ism_policy_problems(body: Mapping[str, Any]) -> list[str]:
    """What `PUT _plugins/_ism/policies/<id>` would reject in `body`."""
    problems = [f"unknown top-level key {k}" for k in body if k != "policy"]
    policy = body.get("policy")
    if not isinstance(policy, dict):
        return [*problems, "policy must be an object"]
    problems += [f"unknown policy field {k}" for k in policy if k not in POLICY_KEYS]
    problems += [
        f"policy.{k} is required"
        for k in ("description", "default_state", "states")
        if k not in policy
    ]
    states = policy.get("states")
    if not isinstance(states, list) or not states:
        return [*problems, "policy.states must be a non-empty list"]
    names = [state.get("name") for state in states if isinstance(state, dict)]
    if len(set(names)) != len(names) or len(names) != len(states):
        problems.append("every state needs a unique name")
    if policy.get("default_state") not in names:
        problems.append(f"default_state {policy.get('default_state')!r} is not a state")
    for state in states:
        if not isinstance(state, dict):
            continue
        problems += [
            f"{state.get('name')}: unknown field {k}"
            for k in state
            if k not in {"name", "actions", "transitions"}
        ]
        for action in state.get("actions", []):
            problems += action_problems(str(state.get("name")), action)
        for transition in state.get("transitions", []):
            problems += transition_problems(str(state.get("name")), transition, names)
    problems += ism_template_problems(policy.get("ism_template", []))
    return problems


def action_problems(state: str, action: Any) -> list[str]:
    kinds = [k for k in action if k not in ACTION_OPTIONS] if isinstance(action, dict) else []
    if len(kinds) != 1 or kinds[0] not in ACTIONS:
        return [f"{state}: an action is one known action, got {kinds}"]
    kind = kinds[0]
    options = action[kind]
    if kind == "delete":
        return [] if options == {} else [f"{state}: delete takes no options"]
    if kind != "rollover":
        return []
    problems = [
        f"{state}: rollover: unknown condition {c}"
        for c in options
        if c not in ROLLOVER_CONDITIONS and c != "copy_alias"
    ]
    for condition, value in options.items():
        unit = ROLLOVER_CONDITIONS.get(condition)
        if unit and not is_value_of_unit(unit, value):
            problems.append(f"{state}: rollover: {condition}={value!r} is not a {unit} value")
    return problems


def transition_problems(state: str, transition: Any, names: list[Any]) -> list[str]:
    if not isinstance(transition, dict):
        return [f"{state}: a transition must be an object"]
    problems = [
        f"{state}: transition: unknown field {k}"
        for k in transition
        if k not in {"state_name", "conditions"}
    ]
    if transition.get("state_name") not in names:
        problems.append(f"{state}: transition to unknown state {transition.get('state_name')!r}")
    conditions = transition.get("conditions", {})
    if "conditions" in transition and (not isinstance(conditions, dict) or len(conditions) != 1):
        return [*problems, f"{state}: a transition has exactly one condition"]
    for condition, value in conditions.items():
        unit = TRANSITION_CONDITIONS.get(condition)
        if unit is None:
            problems.append(f"{state}: transition: unknown condition {condition}")
        elif unit != "cron" and not is_value_of_unit(unit, value):
            problems.append(f"{state}: transition: {condition}={value!r} is not a {unit} value")
    return problems


def ism_template_problems(templates: Any) -> list[str]:
    entries = templates if isinstance(templates, list) else [templates]
    problems = []
    for entry in entries:
        patterns = entry.get("index_patterns") if isinstance(entry, dict) else None
        if not isinstance(patterns, list) or not patterns:
            problems.append("ism_template.index_patterns must be a non-empty list")
        priority = entry.get("priority", 0) if isinstance(entry, dict) else None
        if not isinstance(priority, int) or priority < 0:
            problems.append("ism_template.priority must be a non-negative integer")
    return problems


def is_value_of_unit(unit: str, value: object) -> bool:
    if unit == "count":
        return isinstance(value, int) and value > 0
    pattern = TIME if unit == "time" else BYTES
    return isinstance(value, str) and pattern.fullmatch(value) is not None


def ism_policy(producer: Producer) -> dict[str, Any]:
    """The policy `esbridge setup` installs for `producer` on an OpenSearch with ISM."""
    return by_name(render(ISM, (producer,)), "ism_policy")[f"esbridge-{producer.name}"]


def deadletter_ism_policy(deadletter: Deadletter) -> dict[str, Any]:
    resources = render_resources(PRODUCERS, deadletter, target=ISM)
    return by_name(resources, "ism_policy")["esbridge-deadletter"]


@pytest.mark.parametrize("producer", PRODUCERS, ids=lambda p: p.name)
def test_ism_policy_is_a_valid_put_policy_body(producer: Producer) -> None:
    assert ism_policy_problems(ism_policy(producer)) == []


def test_deadletter_ism_policy_is_valid_too() -> None:
    assert ism_policy_problems(deadletter_ism_policy(Deadletter())) == []


def test_ism_checker_accepts_a_minimal_policy() -> None:
    minimal = {"description": "d", "default_state": "hot", "states": [{"name": "hot"}]}

    assert ism_policy_problems({"policy": minimal}) == []


@pytest.mark.parametrize(
    "broken",
    [
        {"description": "d", "default_state": "hot", "states": [{"name": "hot"}], "_meta": {}},
        {"phases": {"hot": {"actions": {}}}},  # an ILM body
        {"description": "d", "default_state": "warm", "states": [{"name": "hot"}]},
        {
            "description": "d",
            "default_state": "hot",
            "states": [{"name": "hot", "actions": [{"rollover": {"max_age": "1d"}}]}],
        },
        {
            "description": "d",
            "default_state": "hot",
            "states": [{"name": "hot", "actions": [{"delete": {}, "rollover": {}}]}],
        },
        {
            "description": "d",
            "default_state": "hot",
            "states": [{"name": "hot", "transitions": [{"state_name": "gone"}]}],
        },
        {
            "description": "d",
            "default_state": "hot",
            "states": [
                {
                    "name": "hot",
                    "transitions": [
                        {
                            "state_name": "hot",
                            "conditions": {"min_index_age": "1d", "min_doc_count": 5},
                        }
                    ],
                }
            ],
        },
        {
            "description": "d",
            "default_state": "hot",
            "states": [
                {
                    "name": "hot",
                    "transitions": [{"state_name": "hot", "conditions": {"min_rollover_age": 30}}],
                }
            ],
        },
        {
            "description": "d",
            "default_state": "hot",
            "states": [{"name": "hot"}],
            "ism_template": {"index_patterns": []},
        },
    ],
)
def test_ism_checker_catches_what_opensearch_rejects(broken: dict[str, Any]) -> None:
    assert ism_policy_problems({"policy": broken}) != []


def test_ism_and_ilm_roll_over_and_delete_at_the_same_thresholds() -> None:
    producer = replace(
        PRODUCERS[0],
        retention_days=400,
        rollover_max_primary_shard_size=20 * 1024**3,
        rollover_max_age=43200.0,
    )
    ilm = by_name(render(producers=(producer,)), "ilm_policy")[f"esbridge-{producer.name}"]
    phases = ilm["policy"]["phases"]

    hot, delete = ism_policy(producer)["policy"]["states"]

    assert hot["actions"] == [
        {"rollover": {"min_primary_shard_size": "20gb", "min_index_age": "12h"}}
    ]
    assert phases["hot"]["actions"]["rollover"] == {
        "max_primary_shard_size": "20gb",
        "max_age": "12h",
    }
    assert hot["transitions"] == [
        {"state_name": "delete", "conditions": {"min_rollover_age": "400d"}}
    ]
    assert phases["delete"]["min_age"] == "400d"  # ILM counts it from the rollover too
    assert delete == {"name": "delete", "actions": [{"delete": {}}], "transitions": []}


def test_ism_attaches_to_exactly_the_indices_behind_the_producers_alias() -> None:
    producer = PRODUCERS[0]
    index_template = by_name(render(), "index_template")[f"esbridge-{producer.name}"]

    (attach,) = ism_policy(producer)["policy"]["ism_template"]

    assert attach["index_patterns"] == index_template["index_patterns"]
    assert fnmatch.fnmatch(bootstrap_index_name(producer.index), attach["index_patterns"][0])
    assert not fnmatch.fnmatch(producer.index, attach["index_patterns"][0])


def test_rollover_alias_setting_names_the_write_alias_as_ism_requires() -> None:
    producer = PRODUCERS[0]

    template = by_name(render(ISM), "index_template")[f"esbridge-{producer.name}"]

    settings = template["template"]["settings"]
    assert settings["plugins.index_state_management.rollover_alias"] == producer.index
