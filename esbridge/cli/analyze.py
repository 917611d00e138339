"""`esbridge analyze`: Apache Spark jobs over the archive (the optional extra esbridge[spark]).

Runs in local mode by default; `--master spark://host:7077` (or any Spark master URL) runs the
same jobs on a site's cluster; spark-submit runs them through esbridge/__main__.py
(docs/analyze.md).
"""

from __future__ import annotations

import importlib
import json
import os
import signal
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any, TypeVar, cast

import click

from esbridge.analyze.month import Month
from esbridge.analyze.results import (
    DIMENSIONS,
    BillingQuery,
    Dimension,
    billing_json,
    billing_text,
    pool_json,
    pool_text,
)
from esbridge.errors import EsbridgeError, UsageError
from esbridge.stack.jdk import find_jdk, read_major

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

SPARK_JAVA = 17
"""Spark 4 runs on Java 17, 21 and 25 (Java 8 and 11 were dropped in 4.0)."""
INSTALL_HINT = "esbridge analyze needs Apache Spark: pip install 'esbridge[spark]'"

F = TypeVar("F", bound=Callable[..., Any])


def _spark_options(function: F) -> F:
    options = [
        click.option(
            "--archive",
            "root",
            required=True,
            envvar="ESBRIDGE_ARCHIVE",
            metavar="ROOT",
            help="The archive's root (a path, or a URL Spark reads, e.g. s3a://bucket/archive); "
            "or ESBRIDGE_ARCHIVE.",
        ),
        click.option(
            "--master",
            default=None,
            metavar="URL",
            help="Spark master: local[*] (the default), local[N], spark://host:7077, yarn, "
            "k8s://...; under spark-submit, spark-submit's.",
        ),
        click.option(
            "--conf",
            "conf",
            multiple=True,
            metavar="KEY=VALUE",
            help="A Spark setting, as spark-submit's --conf (repeatable), e.g. "
            "spark.executor.memory=8g.",
        ),
        click.option("--json", "as_json", is_flag=True, help="Print one JSON object."),
    ]
    for option in reversed(options):
        function = option(function)
    return function


def _settings(pairs: tuple[str, ...]) -> dict[str, str]:
    settings: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"--conf {pair!r}: expected KEY=VALUE")
        settings[key.strip()] = value
    return settings


def _ensure_java() -> None:
    """Spark's JVM is the one JAVA_HOME names; when none is named, the newest JDK found."""
    named = os.environ.get("JAVA_HOME")
    if not named:
        os.environ["JAVA_HOME"] = str(find_jdk(SPARK_JAVA, "Apache Spark").home)
        return
    major = read_major(Path(named))
    if major is not None and major < SPARK_JAVA:
        raise UsageError(
            f"JAVA_HOME={named} is Java {major}; Apache Spark 4 needs Java {SPARK_JAVA} or newer"
        )


class _Terminated(BaseException):
    """SIGTERM arrived while Spark was working; a BaseException (as KeyboardInterrupt is), so
    no `except Exception` in pyspark or py4j swallows it."""


def _terminate(_signum: int, _frame: FrameType | None) -> None:
    raise _Terminated


@contextmanager
def _session(master: str | None, conf: tuple[str, ...], job: str) -> Iterator[SparkSession]:
    """A SparkSession for one job, stopped afterwards; Spark's own errors as one line.

    SIGTERM stops the job and the session (Spark cancels what runs) and exits 1 with one line:
    a batch query cut short has no answer to print, so it does not exit 0 like a daemon. While
    the JVM starts, SIGTERM waits for it: interrupting pyspark's launch would orphan the JVM.
    """
    settings = _settings(conf)
    try:
        importlib.import_module("pyspark")
    except ImportError:
        raise UsageError(INSTALL_HINT) from None
    from pyspark.errors import PySparkException  # noqa: PLC0415 (pyspark is optional)

    from esbridge.analyze.session import open_session  # noqa: PLC0415

    _ensure_java()
    stopped = EsbridgeError(f"analyze {job}: stopped by SIGTERM before it finished")
    pending: list[int] = []
    previous = signal.signal(signal.SIGTERM, lambda signum, _frame: pending.append(signum))
    try:
        spark = open_session(master, settings, f"esbridge analyze {job}")
    except PySparkException as error:
        signal.signal(signal.SIGTERM, previous)
        raise EsbridgeError(f"Spark: {_first_line(error)}") from error
    signal.signal(signal.SIGTERM, _terminate)
    try:
        if pending:
            raise _Terminated
        yield spark
    except _Terminated:
        raise stopped from None
    except PySparkException as error:
        raise EsbridgeError(f"Spark: {_first_line(error)}") from error
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # let the stop finish
        try:
            spark.stop()
        finally:
            signal.signal(signal.SIGTERM, previous)


def _first_line(error: Exception) -> str:
    """Spark's messages carry the JVM's stack trace after the first line."""
    return (str(error).strip().splitlines() or [type(error).__name__])[0]


def _print(as_json: bool, document: dict[str, Any], text: str) -> None:
    click.echo(json.dumps(document) if as_json else text)


@click.group("analyze")
def analyze() -> None:
    """Apache Spark jobs over the archive `esbridge archive` writes (needs esbridge[spark]).

    \b
    esbridge analyze billing-volume --archive /data/archive --month 2019-06 --vo cms
    esbridge analyze pool-history   --archive /data/archive --pool pool-a-1
    """


@analyze.command("billing-volume")
@_spark_options
@click.option("--month", required=True, metavar="YYYY-MM", help="The month, in UTC.")
@click.option("--vo", default=None, help="Only this VO: the part of storageInfo before ':'.")
@click.option(
    "--by",
    type=click.Choice(DIMENSIONS),
    default=None,
    help="Break the total down: storage group (storageInfo before '@'), protocol or direction.",
)
@click.option("--include-p2p", is_flag=True, help="Count pool-to-pool copies too.")
@click.option(
    "--include-failed", is_flag=True, help="Count failed transfers (status code != 0) too."
)
@click.option(
    "--producer", default="billing", show_default=True, help="The producer's archive folder."
)
def billing_volume_command(
    root: str,
    master: str | None,
    conf: tuple[str, ...],
    as_json: bool,
    month: str,
    vo: str | None,
    by: str | None,
    include_p2p: bool,
    include_failed: bool,
    producer: str,
) -> None:
    """Bytes transferred and number of transfers in a month (UTC), for one VO or all.

    Counts pool movers' `transfer` records (a door's `request` repeats their bytes) whose
    event time is in the month; pool-to-pool copies and failed transfers only when asked.
    Reads only the month's partition folders.
    """
    query = BillingQuery(
        month=Month.parse(month),
        vo=vo,
        by=cast("Dimension | None", by),
        include_p2p=include_p2p,
        include_failed=include_failed,
        producer=producer,
    )
    with _session(master, conf, "billing-volume") as spark:
        from esbridge.analyze.billing import billing_volume  # noqa: PLC0415

        result = billing_volume(spark, root, query)
    _print(as_json, billing_json(result), billing_text(result))


@analyze.command("pool-history")
@_spark_options
@click.option("--pool", required=True, help="The pool's name (dcache.pool.name).")
@click.option(
    "--producer", default="poolinfo", show_default=True, help="The producer's archive folder."
)
def pool_history_command(
    root: str, master: str | None, conf: tuple[str, ...], as_json: bool, pool: str, producer: str
) -> None:
    """The pool groups a pool belonged to over time, from the archived pool snapshots.

    One line per period in which the pool's group set stayed the same: its first and last
    snapshot, the groups, the number of snapshots. The change happened between one period's
    last and the next one's first snapshot.
    """
    with _session(master, conf, "pool-history") as spark:
        from esbridge.analyze.pools import pool_history  # noqa: PLC0415

        intervals = pool_history(spark, root, pool, producer)
    _print(as_json, pool_json(pool, intervals), pool_text(pool, intervals))
