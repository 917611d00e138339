"""`esbridge maintain`'s decisions, on surveys as the cluster would give them (no cluster).

What the real engines do with those decisions is in tests/integration/test_maintain.py.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from esbridge.config import load_config
from esbridge.setup.maintain import (
    BackingIndex,
    Outcome,
    Series,
    Step,
    Survey,
    Tally,
    line,
    next_index,
    plan,
    series_of,
)
from tests.helpers.paths import EXAMPLE_CONFIG

NOW = datetime(2026, 10, 14, 12, 0, tzinfo=UTC)
DAY = timedelta(days=1)
SERIES = Series(
    alias="dcache-billing",
    template="esbridge-billing",
    time_field="event.ingested",
    retention_days=30,
    rollover_max_age=86400.0,
    rollover_max_primary_shard_size=50 * 1024**3,
)


def index(number: int, **changes: object) -> BackingIndex:
    base = BackingIndex(
        name=f"dcache-billing-{number:06d}",
        is_write=False,
        created=NOW - 40 * DAY,
        documents=10,
        largest_primary_shard=1024,
        newest=NOW - 35 * DAY,
        foreign=None,
        managed=None,
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def write(number: int, **changes: object) -> BackingIndex:
    defaults: dict[str, object] = {"is_write": True, "created": NOW - DAY / 2, "newest": NOW}
    return index(number, **(defaults | changes))


def steps(*indices: BackingIndex, series: Series = SERIES) -> list[tuple[str, str]]:
    return [(step.verb, step.index) for step in plan(Survey(series, indices), NOW)]


def test_an_old_backing_index_is_deleted_and_the_write_index_kept() -> None:
    assert steps(index(1), write(2)) == [("delete", "dcache-billing-000001")]


def test_the_write_index_is_never_deleted_however_old_its_documents() -> None:
    old_write = write(1, created=NOW - 90 * DAY, newest=NOW - 80 * DAY)

    assert ("delete", old_write.name) not in steps(old_write)
    assert steps(old_write) == [("rollover", old_write.name)]


def test_an_index_newer_than_retention_is_kept_without_a_line() -> None:
    assert steps(index(1, newest=NOW - 29 * DAY), write(2)) == []


def test_retention_counts_from_the_newest_document_not_the_creation() -> None:
    """Created 40 days ago but written to until 10 days ago: 10 days old."""
    assert steps(index(1, created=NOW - 40 * DAY, newest=NOW - 10 * DAY), write(2)) == []


def test_an_empty_index_ages_from_its_creation() -> None:
    empty_old = index(1, documents=0, newest=None, created=NOW - 31 * DAY)
    empty_new = index(2, documents=0, newest=None, created=NOW - 3 * DAY)

    assert steps(empty_old, empty_new, write(3)) == [("delete", empty_old.name)]


def test_an_index_whose_documents_carry_no_ingest_time_is_kept_and_said_so() -> None:
    unknown = index(1, newest=None)

    (step,) = plan(Survey(SERIES, (unknown, write(2))), NOW)

    assert (step.verb, step.index) == ("keep", unknown.name)
    assert "event.ingested" in step.reason


def test_an_index_without_esbridges_meta_is_never_deleted() -> None:
    foreign = index(1, foreign="its mappings carry no _meta.managed_by esbridge")

    (step,) = plan(Survey(SERIES, (foreign, write(2))), NOW)

    assert (step.verb, step.index) == ("keep", foreign.name)
    assert step.reason.startswith("not esbridge's: its mappings carry no _meta")


def test_a_foreign_index_newer_than_retention_gets_no_line() -> None:
    assert steps(index(1, foreign="x", newest=NOW - DAY), write(2)) == []


def test_the_write_index_rolls_over_at_max_age() -> None:
    aged = write(1, created=NOW - 25 * timedelta(hours=1))

    (step,) = plan(Survey(SERIES, (aged,)), NOW)

    assert (step.verb, step.index, step.new_index) == (
        "rollover",
        "dcache-billing-000001",
        "dcache-billing-000002",
    )
    assert step.reason == "created 1.0 days ago, rollover_max_age 1d"


def test_the_write_index_rolls_over_at_max_primary_shard_size() -> None:
    big = write(7, largest_primary_shard=50 * 1024**3)

    (step,) = plan(Survey(SERIES, (big,)), NOW)

    assert (step.verb, step.new_index) == ("rollover", "dcache-billing-000008")
    assert step.reason == "primary shard of 50gb, rollover_max_primary_shard_size 50gb"


def test_an_empty_write_index_is_not_rolled_over_however_old() -> None:
    """Else every pass would add another empty index to an idle alias (ILM: `min_docs: 1`)."""
    assert steps(write(1, documents=0, newest=None, created=NOW - 90 * DAY)) == []


def test_a_young_small_write_index_is_left_alone() -> None:
    assert steps(write(1)) == []


def test_an_alias_ilm_or_ism_manages_is_only_reported() -> None:
    managed = "ILM policy esbridge-billing: phase hot, action rollover, step check-rollover-ready"
    survey = Survey(
        SERIES,
        (index(1, managed=managed), write(2, managed=managed, created=NOW - 9 * DAY)),
    )

    found = plan(survey, NOW)

    assert [(s.verb, s.index, s.reason) for s in found] == [
        ("managed", "dcache-billing-000001", managed),
        ("managed", "dcache-billing-000002", managed),
    ]


def test_an_alias_that_is_not_set_up_is_skipped_with_the_reason() -> None:
    survey = Survey(SERIES, (), "no index template esbridge-billing: run esbridge setup")

    assert plan(survey, NOW) == [
        Step("skip", "dcache-billing", "esbridge-billing", survey.problem or "")
    ]


@pytest.mark.parametrize(
    ("name", "following"),
    [
        ("a-000001", "a-000002"),
        ("dcache-billing-000999", "dcache-billing-001000"),
        ("a-7", "a-000008"),
    ],
)
def test_the_next_index_is_named_as_the_engines_name_it(name: str, following: str) -> None:
    assert next_index(name) == following


def test_an_index_name_without_a_number_cannot_be_rolled_over() -> None:
    with pytest.raises(ValueError, match="does not end in -<number>"):
        next_index("dcache-billing")


def test_lines_say_what_was_done_or_would_be() -> None:
    step = Step(
        "rollover", "dcache-billing", "dcache-billing-000001", "why", "dcache-billing-000002"
    )
    deleted = Step("delete", "dcache-billing", "dcache-billing-000001", "old")

    assert line(Outcome(step, done=True), dry_run=False).split() == [
        "rolled", "over", "dcache-billing:", "dcache-billing-000001", "->",
        "dcache-billing-000002", "(why)",
    ]  # fmt: skip
    assert line(Outcome(step, done=False), dry_run=True).startswith("would roll over ")
    assert line(Outcome(deleted, done=False), dry_run=True).startswith("would delete ")
    gone = line(Outcome(deleted, done=False, note="deleted already"), dry_run=False)
    assert gone.startswith("not needed ") and gone.endswith("(old; deleted already)")


def test_the_summary_counts_what_was_done() -> None:
    tally = Tally("OpenSearch 2.19.6", dry_run=False, aliases=5, indices=7)
    roll = Step("rollover", "a", "a-000001", "r", "a-000002")
    for outcome in (
        Outcome(roll, done=True),
        Outcome(Step("delete", "a", "a-000000", "d"), done=True),
        Outcome(Step("delete", "b", "b-000001", "d"), done=False, note="deleted already"),
        Outcome(Step("keep", "b", "b-000002", "k"), done=False),
    ):
        tally.count(outcome)

    assert tally.summary() == (
        "OpenSearch 2.19.6: rolled over 1 of 5 write aliases, deleted 1 of 7 backing indices"
    )


def test_every_producer_and_the_dead_letters_are_maintained() -> None:
    config = load_config(EXAMPLE_CONFIG, environ={})

    found = series_of(config)

    assert [s.alias for s in found] == [
        *(p.index for p in config.producers),
        config.deadletter.index,
    ]
    dead = found[-1]
    assert (dead.template, dead.time_field, dead.retention_days) == (
        f"{config.template_prefix}-deadletter",
        "@timestamp",
        config.deadletter.retention_days,
    )
    assert (dead.rollover_max_age, dead.rollover_max_primary_shard_size) == (
        7 * 86400,
        10 * 1024**3,
    )
    assert {s.time_field for s in found[:-1]} == {"event.ingested"}
