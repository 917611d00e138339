"""Apache Spark jobs over the archive (`esbridge archive`'s Parquet files).

Every job is a function of a SparkSession and the archive's root, so the same code runs in
local mode and on a site's cluster master. Only `session`, `reading`, `billing` and `pools`
import pyspark (the optional extra `esbridge[spark]`); `month` and `results` are pure.
"""
