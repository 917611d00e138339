"""Every concept has one registry; each test fails when a name is registered in one place and
not in another, so adding a producer, a status, a dead-letter reason or a channel in one place
alone is caught here rather than at ingest start or in a mail."""

from __future__ import annotations

import re
from typing import get_args

from esbridge.cli.issues import STATUS_CHOICE
from esbridge.config.models import ParserName
from esbridge.config.notify import NotificationsConfig
from esbridge.config.watch import STATUS_CLASSES
from esbridge.kibana.spec import SPEC
from esbridge.notify.channels import CHANNELS
from esbridge.notify.digest import STATUS_LEGEND
from esbridge.resources import INDEX_TEMPLATES, data
from esbridge.simulate.streams import KINDS
from esbridge.transforms import PARSERS, DeadLetterReason
from esbridge.watch.lifecycle import OPEN_STATUS, STATUSES
from tests.helpers.mappings import SECTIONS
from tests.helpers.paths import FIELDS_MD

PARSER_NAMES = set(get_args(ParserName))


def test_every_parser_name_has_a_parser_and_every_parser_a_name() -> None:
    assert set(PARSERS) == PARSER_NAMES


def test_every_parser_has_its_component_template() -> None:
    shipped = {
        entry.name.removesuffix(".component.json.j2")
        for entry in data(INDEX_TEMPLATES).iterdir()
        if entry.name.endswith(".component.json.j2")
    }
    assert shipped >= PARSER_NAMES
    assert shipped - PARSER_NAMES == {"envelope", "deadletter", "issues"}


def test_every_parser_is_simulated_documented_and_has_a_data_view() -> None:
    assert set(KINDS) == PARSER_NAMES
    assert set(SECTIONS.values()) - {"envelope", "deadletter"} == PARSER_NAMES
    assert {view.id.removeprefix("esbridge-") for view in SPEC.data_views} >= PARSER_NAMES


def test_the_legend_and_the_cli_know_exactly_the_lifecycles_statuses() -> None:
    assert set(STATUS_LEGEND) == set(STATUSES)
    assert tuple(STATUS_CHOICE.choices) == STATUSES


def test_every_status_class_opens_issues_in_a_known_status() -> None:
    assert set(OPEN_STATUS) == set(STATUS_CLASSES)
    assert set(OPEN_STATUS.values()) <= set(STATUSES)


def test_documented_dead_letter_reasons_are_exactly_the_registered_ones() -> None:
    text = FIELDS_MD.read_text(encoding="utf-8")
    row = next(line for line in text.splitlines() if line.startswith("| `error.type`"))
    documented = set(re.findall(r"`([a-z_0-9]+)`", row.split("|")[3]))
    assert documented == set(get_args(DeadLetterReason))


def test_every_channel_section_of_the_config_has_a_channel_and_back() -> None:
    sections = {
        name
        for name, field in NotificationsConfig.model_fields.items()
        if field.annotation is not None and "Config" in str(field.annotation)
    }
    assert sections == set(CHANNELS)
