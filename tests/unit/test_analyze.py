"""esbridge analyze without a JVM: months, printing, and the command's refusals."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner

from esbridge.analyze.month import Month
from esbridge.analyze.results import (
    BillingQuery,
    BillingVolume,
    PoolInterval,
    Tally,
    billing_json,
    billing_text,
    human_bytes,
    pool_json,
    pool_text,
)
from esbridge.cli import main
from esbridge.errors import UsageError

BILLING = ["analyze", "billing-volume", "--archive", "/nowhere", "--month", "2019-06"]


def test_a_month_spans_its_utc_days_and_december_ends_in_the_next_year() -> None:
    june = Month.parse("2019-06")
    assert (june.start, june.end) == (
        datetime(2019, 6, 1, tzinfo=UTC),
        datetime(2019, 7, 1, tzinfo=UTC),
    )
    assert Month.parse("2019-12").end == datetime(2020, 1, 1, tzinfo=UTC)
    assert (june.label, june.folder) == ("2019-06", "year=2019/month=06")


@pytest.mark.parametrize("text", ["2019-6", "2019-13", "June 2019", "2019-06-01", ""])
def test_a_month_that_is_not_yyyy_mm_is_a_usage_error(text: str) -> None:
    with pytest.raises(UsageError, match="expected YYYY-MM"):
        Month.parse(text)


def test_byte_counts_read_in_binary_units() -> None:
    assert [human_bytes(n) for n in (0, 1023, 1536, 5 * 2**40)] == [
        "0 B",
        "1023 B",
        "1.5 KiB",
        "5.0 TiB",
    ]


def _volume() -> BillingVolume:
    query = BillingQuery(Month(2019, 6), "cms", "storage-group")
    by = {"cms:raw": Tally(3 * 2**30, 2), "cms:user": Tally(100, 1)}
    return BillingVolume(query, Tally(3 * 2**30 + 100, 3), by)


def test_billing_json_is_one_object_with_month_vo_totals_and_breakdown() -> None:
    assert billing_json(_volume()) == {
        "month": "2019-06",
        "vo": "cms",
        "bytes": 3 * 2**30 + 100,
        "transfers": 3,
        "by": {
            "cms:raw": {"bytes": 3 * 2**30, "transfers": 2},
            "cms:user": {"bytes": 100, "transfers": 1},
        },
        "group_by": "storage-group",
        "include_p2p": False,
        "include_failed": False,
    }


def test_billing_table_states_what_was_counted_and_one_row_per_key() -> None:
    lines = billing_text(_volume()).splitlines()
    assert lines[0] == (
        "billing volume 2019-06 (UTC), VO cms, transfers (without p2p and failed): "
        "3.0 GiB (3221225572 bytes) in 3 transfers"
    )
    assert lines[2].split() == ["storage-group", "bytes", "transfers"]
    assert lines[3].split() == ["cms:raw", "3221225472", "3.0", "GiB", "2"]
    assert lines[4].split() == ["cms:user", "100", "100", "B", "1"]


def test_pool_history_prints_periods_in_utc() -> None:
    interval = PoolInterval(
        datetime(2019, 6, 1, tzinfo=UTC), datetime(2019, 6, 2, 6, tzinfo=UTC), ("all",), 5
    )
    assert pool_json("p1", [interval])["intervals"] == [
        {
            "first_seen": "2019-06-01T00:00:00.000Z",
            "last_seen": "2019-06-02T06:00:00.000Z",
            "groups": ["all"],
            "snapshots": 5,
        }
    ]
    assert pool_text("p1", [interval]).splitlines()[-1].split() == [
        "2019-06-01T00:00:00.000Z",
        "2019-06-02T06:00:00.000Z",
        "all",
        "5",
    ]
    assert pool_text("p1", []) == "pool p1: no archived snapshot"


def test_without_pyspark_the_command_says_how_to_install_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "pyspark", None)
    result = CliRunner().invoke(main, BILLING)
    assert result.exit_code == 2
    assert result.output.strip().splitlines() == [
        "Error: esbridge analyze needs Apache Spark: pip install 'esbridge[spark]'"
    ]


def test_help_works_without_pyspark(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pyspark", None)
    result = CliRunner().invoke(main, ["analyze", "pool-history", "--help"])
    assert result.exit_code == 0
    assert "--pool" in result.output


def test_a_java_home_older_than_17_is_refused_before_spark_starts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "release").write_text('JAVA_VERSION="11.0.2"\n')
    monkeypatch.setenv("JAVA_HOME", str(tmp_path))
    result = CliRunner().invoke(main, BILLING)
    assert result.exit_code == 2
    assert "is Java 11; Apache Spark 4 needs Java 17 or newer" in result.output


@pytest.mark.parametrize("bad", ["spark.executor.memory", "=8g"])
def test_a_conf_that_is_not_key_value_is_a_usage_error(bad: str) -> None:
    result = CliRunner().invoke(main, [*BILLING, "--conf", bad])
    assert result.exit_code == 2
    assert "expected KEY=VALUE" in result.output


def test_a_bad_month_is_refused_before_spark_starts() -> None:
    result = CliRunner().invoke(main, [*BILLING[:-1], "2019-6"])
    assert result.exit_code == 2
    assert "expected YYYY-MM" in result.output
