"""Embedded Delta write vs plain Spark Parquet on the same partitioned DataFrame.

Prints both times, the ratio (target ≤ 1.0) and the driver's peak Python RSS and JVM
heap per size, to show driver memory stays flat as the table grows.

    .venv/bin/python -m benchmarks lake_write --rows 2000000 4000000
"""
from __future__ import annotations

import argparse
import shutil
import tempfile

from pyspark.sql import functions as F

from benchmarks.common import bench_session, measured
from sendopt.catalog import CATALOG
from sendopt.lake import Lake, TableSpec, col

COLUMNS = 15
SPEC = TableSpec(
    "analytics",
    "bench_write",
    columns=(
        col("id", "long", "row id", nullable=False),
        col("event_date", "date", "one of 10 days", nullable=False),
        col("region", "string", "one of 4 regions"),
        col("ts", "timestamp", "event time"),
        *[col(f"x{i}", "double", "random value") for i in range(COLUMNS - 6)],
        col("n1", "long", "hashed integer"),
        col("label", "string", "short text"),
    ),
    partition_by=("event_date",),
)


def frame(spark, rows: int):
    return spark.range(rows, numPartitions=8).select(
        F.col("id"),
        F.expr("date_add(date'2026-01-01', cast(id % 10 as int))").alias("event_date"),
        F.element_at(F.array(*[F.lit(r) for r in ("north", "south", "east", "west")]),
                     (F.col("id") % 4 + 1).cast("int")).alias("region"),
        F.expr("timestamp'2026-01-01 00:00:00' + make_interval(0,0,0,0,0,0,id % 864000)").alias("ts"),
        *[F.rand(i).alias(f"x{i}") for i in range(COLUMNS - 6)],
        F.xxhash64("id").alias("n1"),
        F.concat(F.lit("item-"), (F.col("id") % 1000).cast("string")).alias("label"),
    )


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks lake_write")
    parser.add_argument("--rows", type=int, nargs="+", default=[2_000_000, 4_000_000])
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args(argv)
    work = tempfile.mkdtemp(prefix="bench-lake-")
    config, spark = bench_session(f"{work}/lake", "spark.shuffle_partitions=8")
    lake = Lake(spark, config, catalog=CATALOG.extended([SPEC]), job="bench")
    print(f"{'rows':>10} {'parquet_s':>10} {'delta_s':>10} {'ratio':>6} {'py_rss_mb':>10} {'jvm_heap_mb':>12}")
    for rows in args.rows:
        df = frame(spark, rows).cache()
        df.count()
        best_plain, best_delta, mem = float("inf"), float("inf"), {}
        for rep in range(args.repeat):  # alternate so neither side gets a warmer machine
            target = f"{work}/plain-{rows}-{rep}"
            with measured(spark) as plain:
                df.write.mode("overwrite").partitionBy("event_date").parquet(target)
            with measured(spark) as delta:
                lake.write(df, SPEC, mode="overwrite")
            best_plain, best_delta = min(best_plain, plain["seconds"]), min(best_delta, delta["seconds"])
            mem = delta
            shutil.rmtree(target, ignore_errors=True)
        assert lake.read(SPEC).count() == rows
        print(f"{rows:>10} {best_plain:>10.2f} {best_delta:>10.2f} {best_delta / best_plain:>6.2f} "
              f"{mem['py_rss_mb']:>10.0f} {mem['jvm_heap_mb']:>12.0f}", flush=True)
        df.unpersist()
        lake.vacuum(SPEC, retention_hours=0)
    shutil.rmtree(work, ignore_errors=True)
    return 0
