"""The `reactors:` section: the shipped example loads, and mistakes are named at their key."""

from __future__ import annotations

from pathlib import Path

import pytest

from esbridge.config import ConfigError, load_config
from tests.helpers.configs import MINIMAL
from tests.helpers.reacting import EXAMPLE

SCAN = """\
reactors:
  - name: scan
    producer: billing
    path: {strip_prefix: /pnfs/sync/}
    action:
      command:
        argv: [occ, files:scan, "--path={parent}"]
"""


def load(tmp_path: Path, text: str) -> str:
    path = tmp_path / "react.yml"
    path.write_text(MINIMAL + text, encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_config(path, environ={})
    return str(caught.value).replace(str(path), "react.yml")


def test_the_nextcloud_example_loads_with_its_defaults() -> None:
    config = load_config(EXAMPLE, environ={})
    (scan,) = config.reactors
    assert config.reactor_topics(scan) == ["billing"]
    assert scan.consumer_group(config.kafka.group_id) == "esbridge-react-nextcloud-scan"
    assert scan.path is not None
    assert scan.path.strip_prefix == "/pnfs/desy.de/sync/"
    assert scan.action.command is not None
    assert scan.action.command.argv == (
        "/var/www/nextcloud/occ", "files:scan", "--shallow", "--path={parent}"
    )  # fmt: skip
    assert scan.action.command.concurrency == 1
    assert "LockedException" in scan.action.command.retry.output
    assert scan.coalesce == 5.0
    assert scan.deadletter_index == "esbridge-react-deadletter"


def test_the_example_takes_prefix_and_occ_from_the_environment() -> None:
    env = {"ESBRIDGE_SCAN_PREFIX": "/data/nc/", "ESBRIDGE_OCC": "/srv/nc/occ"}
    (scan,) = load_config(EXAMPLE, environ=env).reactors
    assert scan.path is not None and scan.path.strip_prefix == "/data/nc/"
    assert scan.match[-1].prefix == "/data/nc/"
    assert scan.action.command is not None and scan.action.command.argv[0] == "/srv/nc/occ"


def test_a_minimal_reactor_loads_and_reactors_are_optional(tmp_path: Path) -> None:
    path = tmp_path / "ok.yml"
    path.write_text(MINIMAL + SCAN, encoding="utf-8")
    (scan,) = load_config(path, environ={}).reactors
    assert scan.action.concurrency == 1
    path.write_text(MINIMAL, encoding="utf-8")
    assert load_config(path, environ={}).reactors == ()


def test_an_unknown_placeholder_is_named_at_its_argument(tmp_path: Path) -> None:
    error = load(tmp_path, SCAN.replace("--path={parent}", "--path={folder}"))
    assert "react.yml:16: reactors[0].action.command.argv[2]: placeholders here are" in error
    assert "{name}, {parent}, {path}" in error


def test_path_placeholders_need_a_path_mapping(tmp_path: Path) -> None:
    error = load(tmp_path, SCAN.replace("    path: {strip_prefix: /pnfs/sync/}\n", ""))
    assert "reactors[0].action.command.argv[2]: placeholders here are none" in error


def test_the_producer_must_exist_and_names_and_groups_be_unique(tmp_path: Path) -> None:
    error = load(tmp_path, SCAN + SCAN.removeprefix("reactors:\n").replace("billing", "logs"))
    assert "reactors[1].name: same as reactors[0].name" in error
    assert "reactors[1].producer: not a producer's name: expected one of billing" in error
    assert "reactors[1].group_id: same consumer group as reactors[0]'s" in error


def test_conditions_and_actions_say_what_is_wrong(tmp_path: Path) -> None:
    text = SCAN + "    match:\n      - {field: msgType, equals: request, prefix: re}\n"
    text += "      - {field: client, regex: '(['}\n"
    error = load(tmp_path, text)
    assert "reactors[0].match[0]: give exactly one of equals, in, prefix, regex and exists" in error
    assert "reactors[0].match[1].regex: not a valid regular expression" in error
    both = SCAN + "      webhook: {url: 'http://127.0.0.1:1/x'}\n"
    assert "reactors[0].action: give exactly one of command and webhook" in load(tmp_path, both)


def test_a_group_needs_a_user_and_the_prefix_must_be_absolute(tmp_path: Path) -> None:
    text = SCAN.replace("strip_prefix: /pnfs/sync/", "strip_prefix: pnfs/sync/")
    text += "        group: www-data\n"
    error = load(tmp_path, text)
    assert "reactors[0].path.strip_prefix: expected an absolute path" in error
    assert "reactors[0].action.command.group: only used with user" in error


def test_the_dead_letter_index_is_the_reactors_own(tmp_path: Path) -> None:
    error = load(tmp_path, SCAN + "    deadletter_index: dcache-billing\n")
    assert "reactors[0].deadletter_index: same as a producer's index" in error
