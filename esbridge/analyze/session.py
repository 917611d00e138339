"""The SparkSession the jobs run in: local mode here, a site's master there."""

from __future__ import annotations

from collections.abc import Mapping

from pyspark.sql import SparkSession

TIME_ZONE = "UTC"
"""Spark's session time zone: months, days and printed instants are UTC whatever the host's."""


def open_session(master: str | None, conf: Mapping[str, str], app_name: str) -> SparkSession:
    """A session on `master` (None: spark-submit's, else Spark's default `local[*]`).

    The session time zone is forced to UTC after `conf`, so no setting makes a month mean
    another zone's month.
    """
    builder = SparkSession.builder.appName(app_name)
    if master is not None:
        builder = builder.master(master)
    builder = builder.config("spark.ui.showConsoleProgress", "false")
    for key, value in conf.items():
        builder = builder.config(key, value)
    builder = builder.config("spark.sql.session.timeZone", TIME_ZONE)
    return builder.getOrCreate()
