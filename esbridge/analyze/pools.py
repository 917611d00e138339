"""pool-history: the pool groups a pool belonged to over time, from the archived snapshots.

The snapshots (`poolinfo`, one per pool every poll) are reduced to runs in which the pool's
group set stayed the same: first and last snapshot of the run, the groups, how many
snapshots. A change happened somewhere between one run's last and the next run's first
snapshot; that is all the archive can tell.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from pyspark.sql import SparkSession, Window
from pyspark.sql import functions as sf
from pyspark.sql.types import ArrayType, StringType, TimestampType

from esbridge.analyze.reading import col, read_producer
from esbridge.analyze.results import PoolInterval

COLUMNS = {
    "@timestamp": TimestampType(),
    "dcache.pool.name": StringType(),
    "dcache.pool.groups": ArrayType(StringType()),
}
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def pool_history(
    spark: SparkSession, root: str, pool: str, producer: str = "poolinfo"
) -> list[PoolInterval]:
    """The pool's runs of constant group set, oldest first (empty if it was never seen)."""
    frame = read_producer(spark, root, producer, COLUMNS)
    groups = sf.array_sort(
        sf.array_distinct(sf.coalesce(col("dcache.pool.groups"), sf.array().cast("array<string>")))
    )
    snapshots = frame.where((col("dcache.pool.name") == pool) & col("@timestamp").isNotNull())
    snapshots = snapshots.select(
        col("dcache.pool.name").alias("pool"),
        sf.unix_micros(col("@timestamp")).alias("micros"),
        groups.alias("groups"),
    )
    order = Window.partitionBy("pool").orderBy("micros", "groups")
    previous = sf.lag("groups").over(order)
    changed = sf.when(previous.isNull() | (previous != sf.col("groups")), 1).otherwise(0)
    runs = snapshots.withColumn("changed", changed).withColumn(
        "run", sf.sum("changed").over(order.rowsBetween(Window.unboundedPreceding, 0))
    )
    rows = (
        runs.groupBy("run")
        .agg(
            sf.min("micros").alias("first"),
            sf.max("micros").alias("last"),
            sf.first("groups").alias("groups"),
            sf.count(sf.lit(1)).alias("snapshots"),
        )
        .orderBy("first")
        .collect()
    )
    return [
        PoolInterval(
            first_seen=_instant(int(row["first"])),
            last_seen=_instant(int(row["last"])),
            groups=tuple(str(group) for group in row["groups"]),
            snapshots=int(row["snapshots"]),
        )
        for row in rows
    ]


def _instant(micros: int) -> datetime:
    """Microseconds since the epoch as an aware UTC datetime (never the driver's zone)."""
    return _EPOCH + timedelta(microseconds=micros)
