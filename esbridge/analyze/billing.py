"""billing-volume: bytes moved by pool movers in a UTC month, per VO, with a breakdown.

What counts (docs/analyze.md): records with `event.action == "transfer"` (one per pool mover;
a door's `request` repeats the same bytes in its `moverInfo`) whose event time falls in the
month, UTC; by default not pool-to-pool copies (`billing.is_p2p`, dCache moving its own
replicas) nor failed transfers (`billing.status.code != 0`). The VO is the part of
`billing.storage_info` before `:` (`cms` of `cms:raw@osm`), the storage group the part
before `@` (`cms:raw`).
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as sf
from pyspark.sql.types import BooleanType, IntegerType, LongType, StringType, TimestampType

from esbridge.analyze.reading import col, read_producer
from esbridge.analyze.results import UNKNOWN, BillingQuery, BillingVolume, Dimension, Tally

COLUMNS = {
    "@timestamp": TimestampType(),
    "event.action": StringType(),
    "billing.transfer_size": LongType(),
    "billing.storage_info": StringType(),
    "billing.protocol.name": StringType(),
    "billing.direction": StringType(),
    "billing.is_p2p": BooleanType(),
    "billing.status.code": IntegerType(),
}
"""The archive columns the job reads (docs/fields.md names)."""


def storage_group(storage_info: Column) -> Column:
    """`cms:raw@osm` -> `cms:raw`: the storage class, without the HSM after `@`."""
    return sf.substring_index(storage_info, "@", 1)


def vo_of(storage_info: Column) -> Column:
    """`cms:raw@osm` -> `cms`."""
    return sf.substring_index(storage_group(storage_info), ":", 1)


def _key(by: Dimension | None) -> Column:
    if by is None:
        return sf.lit("")
    field = {
        "storage-group": storage_group(col("billing.storage_info")),
        "protocol": col("billing.protocol.name"),
        "direction": col("billing.direction"),
    }[by]
    return sf.coalesce(field, sf.lit(UNKNOWN))


def counted(spark: SparkSession, root: str, query: BillingQuery) -> DataFrame:
    """The transfers that count, one row each: `key` (of the breakdown) and `bytes`."""
    frame = read_producer(spark, root, query.producer, COLUMNS, query.month)
    moment = col("@timestamp")
    keep = (
        (col("event.action") == "transfer")
        & (moment >= sf.lit(query.month.start))
        & (moment < sf.lit(query.month.end))
    )
    if query.vo is not None:
        keep &= vo_of(col("billing.storage_info")) == query.vo
    if not query.include_p2p:
        keep &= ~sf.coalesce(col("billing.is_p2p"), sf.lit(False))
    if not query.include_failed:
        keep &= sf.coalesce(col("billing.status.code"), sf.lit(0)) == 0
    return frame.where(keep).select(
        _key(query.by).alias("key"),
        sf.coalesce(col("billing.transfer_size"), sf.lit(0)).alias("bytes"),
    )


def billing_volume(spark: SparkSession, root: str, query: BillingQuery) -> BillingVolume:
    """One Spark job: the sums per key, added up here (exact Python integers)."""
    rows = (
        counted(spark, root, query)
        .groupBy("key")
        .agg(sf.sum("bytes").alias("bytes"), sf.count(sf.lit(1)).alias("transfers"))
        .collect()
    )
    tallies = {str(row["key"]): Tally(int(row["bytes"]), int(row["transfers"])) for row in rows}
    total = Tally(
        sum(t.bytes for t in tallies.values()), sum(t.transfers for t in tallies.values())
    )
    by = dict(sorted(tallies.items(), key=lambda item: (-item[1].bytes, item[0])))
    return BillingVolume(query, total, by if query.by is not None else {})
