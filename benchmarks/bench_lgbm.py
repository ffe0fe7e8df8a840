"""Distributed (barrier) LightGBM vs single-process LightGBM vs Spark MLlib GBTClassifier.

Same generated rows (~2M × 20 features, cached), same LightGBM parameters and rounds
(no early stopping, so both LightGBM runs build exactly ``--rounds`` trees). The
barrier run uses every free slot with one LightGBM thread per task; the single
process uses one thread, and its time includes the ``toPandas`` collect. MLlib GBT
runs ``--gbt-iter`` trees of depth 5 (it is too slow for 100 on two cores); its time
is also scaled to ``--rounds`` trees, labelled as an estimate. AUC on the same
holdout, scored in Spark.

    .venv/bin/python -m benchmarks lgbm --rows 2000000 --rounds 100 --gbt-iter 20
"""
from __future__ import annotations

import argparse
import os
import tempfile

from pyspark.ml.classification import GBTClassifier
from pyspark.ml.feature import VectorAssembler
from pyspark.ml.functions import vector_to_array
from pyspark.sql import functions as F

from benchmarks.common import bench_session, measured
from sendopt.models import TrainSpec, evaluate, score, train
from sendopt.models.barrier import free_slots


def frame(spark, rows: int, features: int, seed: int = 1):
    """Numeric features and a label from a known nonlinear logistic function of a few of them."""
    xs = [F.randn(seed + i).alias(f"x{i}") for i in range(features)]
    df = spark.range(rows, numPartitions=8).select("id", *xs, F.rand(seed + 1000).alias("u"))
    z = (0.9 * F.col("x0") - 0.7 * F.col("x1") + 0.5 * F.col("x2") * F.col("x3")
         + 0.6 * F.sin(2 * F.col("x4")) + 0.4 * (F.col("x5") > 0.5).cast("double") - 0.3 * F.col("x6") ** 2)
    return df.select("id", *[f"x{i}" for i in range(features)],
                     (F.col("u") < 1 / (1 + F.exp(-z))).cast("int").alias("label"))


def holdout_auc(scored, prob_col: str) -> float:
    return evaluate(scored, "label", [prob_col]).auc[1]


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks lgbm")
    parser.add_argument("--rows", type=int, default=2_000_000)
    parser.add_argument("--features", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=100)
    parser.add_argument("--gbt-iter", type=int, default=20)
    args = parser.parse_args(argv)
    work = tempfile.mkdtemp(prefix="bench-lgbm-")
    _, spark = bench_session(f"{work}/lake", "spark.shuffle_partitions=8")
    data = frame(spark, args.rows, args.features)
    train_df, holdout = data.where("id % 10 != 0").cache(), data.where("id % 10 = 0").cache()
    n_train, n_holdout = train_df.count(), holdout.count()
    features = [f"x{i}" for i in range(args.features)]
    spec = TrainSpec(features=features, label="label", num_boost_round=args.rounds, early_stopping_rounds=0,
                     params={"learning_rate": 0.1, "num_leaves": 31, "min_data_in_leaf": 100},
                     max_valid_rows=n_holdout)
    print(f"rows: train {n_train:,}, holdout {n_holdout:,}; features {args.features}; rounds {args.rounds}; "
          f"cores {os.cpu_count()}; load avg {os.getloadavg()[0]:.1f}", flush=True)

    warm = spec.replace(num_boost_round=2)  # first-job and Python-worker start-up must not count for either side
    for backend in ("barrier", "local"):
        train(spark, holdout.limit(20_000), holdout.limit(5_000), warm, backend=backend)
    results = {}
    for backend in ("barrier", "local"):
        with measured(spark) as m:
            result = train(spark, train_df, holdout, spec, backend=backend)
        results[backend] = (m, holdout_auc(score(holdout, result.booster, out_cols=["p"]), "p"),
                            f"{result.tasks} task(s) × 1 thread, {result.booster.num_trees()} trees")
        print(f"  {backend} done in {m['seconds']:.1f}s", flush=True)

    assembled = VectorAssembler(inputCols=features, outputCol="features").transform(train_df)
    gbt = GBTClassifier(labelCol="label", maxIter=args.gbt_iter, maxDepth=5, maxBins=32, seed=1)
    with measured(spark) as m:
        model = gbt.fit(assembled)
    scored = model.transform(VectorAssembler(inputCols=features, outputCol="features").transform(holdout))
    gbt_auc = holdout_auc(scored.withColumn("p", vector_to_array("probability")[1]), "p")
    results["mllib_gbt"] = (m, gbt_auc, f"{args.gbt_iter} trees, depth 5, {free_slots(spark)} cores")

    single = results["local"][0]["seconds"]
    print(f"\n{'method':<12} {'seconds':>8} {'x_single':>9} {'auc':>7} {'py_rss_mb':>10} {'jvm_heap_mb':>12}  setup")
    names = {"barrier": "distributed", "local": "single_proc", "mllib_gbt": "mllib_gbt"}
    for key, (m, auc, setup) in results.items():
        print(f"{names[key]:<12} {m['seconds']:>8.1f} {m['seconds'] / single:>9.2f} {auc:>7.4f} "
              f"{m['py_rss_mb']:>10.0f} {m['jvm_heap_mb']:>12.0f}  {setup}")
    dist_s, dist_auc = results["barrier"][0]["seconds"], results["barrier"][1]
    gbt_s = results["mllib_gbt"][0]["seconds"]
    gbt_scaled = gbt_s * args.rounds / args.gbt_iter
    print(f"\ndistributed / single-process time: {dist_s / single:.2f} (target ≤ 1.5); "
          f"AUC difference {dist_auc - results['local'][1]:+.4f} (target within ±0.003)")
    print(f"MLlib GBT ({args.gbt_iter} trees) / distributed time: {gbt_s / dist_s:.1f}x; "
          f"estimated at {args.rounds} trees: {gbt_scaled / dist_s:.1f}x (target ≥ 10x); "
          f"AUC distributed - GBT {dist_auc - gbt_auc:+.4f} (target ≥ 0)")
    return 0
