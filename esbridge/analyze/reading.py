"""Reading a producer's archive: the partition folders a job needs, every column it uses."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from pyspark.errors import AnalysisException
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as sf
from pyspark.sql.types import DataType

from esbridge.analyze.month import Month
from esbridge.errors import EsbridgeError

_NOTHING_THERE = {"PATH_NOT_FOUND", "UNABLE_TO_INFER_SCHEMA"}


def producer_base(root: str, producer: str) -> str:
    """`<root>/<producer>`; a local root is made absolute (the executors' cwd is not ours),
    a URL (`s3a://`, `hdfs://`, `file://`) is kept as given."""
    if "://" not in root:
        root = str(Path(root).resolve())
    return f"{root.rstrip('/')}/{producer}"


def col(name: str) -> Column:
    """A column by its dotted archive name (`billing.transfer_size`), not a struct path."""
    return sf.col(f"`{name}`")


def read_producer(
    spark: SparkSession,
    root: str,
    producer: str,
    columns: Mapping[str, DataType],
    month: Month | None = None,
) -> DataFrame:
    """The producer's files, only the month's folder when one is given (so Spark lists and
    reads nothing else); `year`, `month`, `day` come from the folder names. A column of
    `columns` that no file has yet (schemas evolve by adding) reads as null."""
    base = producer_base(root, producer)
    path = f"{base}/{month.folder}" if month else base
    try:
        frame = spark.read.option("mergeSchema", "true").option("basePath", base).parquet(path)
    except AnalysisException as error:
        if error.getCondition() in _NOTHING_THERE:
            raise EsbridgeError(f"no archived {producer} files under {path}") from None
        raise
    for name, kind in columns.items():
        if name not in frame.columns:
            frame = frame.withColumn(name, sf.lit(None).cast(kind))
    return frame
