"""Scoring throughput end to end: Parquet table → probabilities → Parquet output.

Spark path: ``spark.read.parquet`` → :func:`sendopt.models.score` (broadcast model,
one Booster per partition, one thread per task) → ``write.parquet``. In-process path:
pyarrow reads the same files, ``booster.predict`` on all rows (``--threads``, default
all cores), pyarrow writes the result. Both score the same rows with the same
100-tree model; the ratio is Spark throughput over in-process throughput (target ≥ 0.5).

    .venv/bin/python -m benchmarks scoring --rows 2000000
"""
from __future__ import annotations

import argparse
import os
import shutil
import tempfile

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from benchmarks.bench_lgbm import frame
from benchmarks.common import bench_session, measured
from sendopt.models import TrainSpec, score, train
from sendopt.models.prepare import arrow_matrix


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks scoring")
    parser.add_argument("--rows", type=int, default=2_000_000)
    parser.add_argument("--features", type=int, default=20)
    parser.add_argument("--trees", type=int, default=100)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args(argv)
    work = tempfile.mkdtemp(prefix="bench-scoring-")
    _, spark = bench_session(f"{work}/lake", "spark.shuffle_partitions=8")
    features = [f"x{i}" for i in range(args.features)]
    source = f"{work}/features"
    frame(spark, args.rows, args.features).write.parquet(source)
    sample = spark.read.parquet(source).where("id % 20 = 0")
    spec = TrainSpec(features=features, label="label", num_boost_round=args.trees, early_stopping_rounds=0,
                     params={"num_leaves": 31, "min_data_in_leaf": 100})
    booster = train(spark, sample, sample.limit(10_000), spec, backend="local").booster
    print(f"rows {args.rows:,}, features {args.features}, trees {booster.num_trees()}, "
          f"in-process threads {args.threads}, Spark slots {spark.sparkContext.defaultParallelism}, "
          f"load avg {os.getloadavg()[0]:.1f}", flush=True)

    best_spark, best_local, mem = float("inf"), float("inf"), {}
    for rep in range(args.repeat):  # alternate so neither side gets a warmer machine
        out = f"{work}/spark-out-{rep}"
        with measured(spark) as m:
            score(spark.read.parquet(source), booster, features, out_cols=["p"]).write.parquet(out)
        best_spark = min(best_spark, m["seconds"])
        mem = mem or m  # first round: before the in-process path has held every row in this process
        local_out = f"{work}/local-out-{rep}.parquet"
        with measured(spark) as m:
            table = pq.read_table(source)
            preds = booster.predict(arrow_matrix(table, features), num_threads=args.threads)
            pq.write_table(table.append_column("p", pa.array(preds)), local_out)
        best_local = min(best_local, m["seconds"])
        if rep == 0:
            check = spark.read.parquet(out).orderBy("id").limit(1000).toPandas()
            expected = booster.predict(check[features].to_numpy(np.float64))
            assert np.array_equal(check["p"].to_numpy(), expected), "Spark scores differ from driver predict"
            assert spark.read.parquet(out).count() == args.rows
        shutil.rmtree(out, ignore_errors=True)
        os.remove(local_out)
        del table, preds

    spark_rps, local_rps = args.rows / best_spark, args.rows / best_local
    print(f"{'path':<12} {'seconds':>8} {'rows_per_s':>11}")
    print(f"{'spark':<12} {best_spark:>8.1f} {spark_rps:>11,.0f}")
    print(f"{'in_process':<12} {best_local:>8.1f} {local_rps:>11,.0f}")
    print(f"Spark / in-process throughput: {spark_rps / local_rps:.2f} (target ≥ 0.50); "
          f"Spark path driver peak py_rss {mem['py_rss_mb']:.0f} MB, jvm heap {mem['jvm_heap_mb']:.0f} MB")
    shutil.rmtree(work, ignore_errors=True)
    return 0
