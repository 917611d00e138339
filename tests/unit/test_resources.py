"""Files commands read at run time come from the package, and the shipped rule pack loads."""

from __future__ import annotations

from pathlib import Path

import pytest

from esbridge.config import ConfigError, load_config
from esbridge.resources import EXAMPLES, data, example_config, rule_pack, shipped_rule_packs
from tests.helpers.configs import MINIMAL
from tests.helpers.paths import EXAMPLE_CONFIG, REPO


def test_package_data_is_the_checkouts_operator_folders_not_a_copy() -> None:
    for name, folder in (
        ("index-templates", REPO / "index-templates"),
        ("logstash", REPO / "pipelines" / "logstash" / "templates"),
        ("examples", REPO / "examples"),
    ):
        assert Path(str(data(name))).resolve() == folder.resolve()


def test_the_shipped_example_is_the_committed_one() -> None:
    with example_config() as shipped:
        assert shipped.read_bytes() == EXAMPLE_CONFIG.read_bytes()


def test_the_dcache_rule_pack_ships() -> None:
    assert shipped_rule_packs() == ["dcache"]
    assert rule_pack("dcache") == Path(str(data(EXAMPLES, "rules", "dcache.yml")))
    assert rule_pack("nope") is None


def test_rule_packs_load_the_same_rules_as_the_examples_rules_dir(tmp_path: Path) -> None:
    path = tmp_path / "site.yml"
    example = EXAMPLE_CONFIG.read_text(encoding="utf-8")
    assert "  rules_dir: rules\n" in example
    path.write_text(example.replace("  rules_dir: rules\n", "  rule_packs: [dcache]\n"), "utf-8")

    from_pack = load_config(path, environ={}).watch
    from_dir = load_config(EXAMPLE_CONFIG, environ={}).watch

    assert from_pack is not None and from_dir is not None
    assert len(from_pack.rules) > 0
    assert from_pack.rules == from_dir.rules


def test_an_unknown_rule_pack_is_an_error_at_its_key(tmp_path: Path) -> None:
    path = tmp_path / "site.yml"
    path.write_text(MINIMAL + "watch:\n  rule_packs: [dcache, nope]\n", encoding="utf-8")

    with pytest.raises(ConfigError) as error:
        load_config(path, environ={})

    assert "watch.rule_packs[1]" in str(error.value)
    assert "shipped: dcache" in str(error.value)
