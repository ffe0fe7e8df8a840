"""Four LightGBM-class trainers side by side on the same rows: barrier, SynapseML, single process, MLlib GBT.

Same generated rows (~2M × 20 features, cached), same LightGBM parameters and rounds
(no early stopping, so every LightGBM run builds exactly ``--rounds`` trees):

* ``barrier``      — sendopt's data-parallel LightGBM over Spark barrier tasks (one thread per task);
* ``synapseml``    — SynapseML's LightGBMClassifier (jars from ``make jars``), one thread per task;
* ``single_proc``  — one LightGBM process with as many threads as the Spark tasks (its ``toPandas``
  collect is counted);
* ``mllib_gbt``    — Spark MLlib's GBTClassifier with the same number of trees (``--rounds``), depth 5
  (≈ LightGBM's 31 leaves), not extrapolated.

Time, AUC on the same holdout (scored in Spark) and peak driver memory (Python RSS, JVM heap).

    .venv/bin/python -m benchmarks lgbm --rows 2000000 --rounds 100
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
from sendopt.spark import missing_jars_reason, synapseml_available


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
    parser.add_argument("--gbt-iter", type=int, default=None, help="MLlib GBT trees (default: --rounds)")
    args = parser.parse_args(argv)
    work = tempfile.mkdtemp(prefix="bench-lgbm-")
    _, spark = bench_session(f"{work}/lake", "spark.shuffle_partitions=8", jars=("synapseml",))
    gbt_iter = args.gbt_iter or args.rounds
    slots = free_slots(spark)
    data = frame(spark, args.rows, args.features)
    train_df, holdout = data.where("id % 10 != 0").cache(), data.where("id % 10 = 0").cache()
    n_train, n_holdout = train_df.count(), holdout.count()
    features = [f"x{i}" for i in range(args.features)]
    spec = TrainSpec(features=features, label="label", num_boost_round=args.rounds, early_stopping_rounds=0,
                     params={"learning_rate": 0.1, "num_leaves": 31, "min_data_in_leaf": 100},
                     max_valid_rows=n_holdout)
    print(f"rows: train {n_train:,}, holdout {n_holdout:,}; features {args.features}; rounds {args.rounds}; "
          f"cores {os.cpu_count()}; load avg {os.getloadavg()[0]:.1f}", flush=True)

    local_spec = spec.replace(params={**spec.params, "num_threads": slots})  # the Spark tasks' cores
    specs = {"barrier": spec, "local": local_spec}
    backends = ["barrier", "synapseml", "local"]
    if not synapseml_available(spark):
        print(f"  synapseml skipped: {missing_jars_reason('synapseml') or 'jars not on the classpath'}")
        backends.remove("synapseml")
    for backend in backends:  # first-job and Python-worker start-up must not count for any side
        warm = specs.get(backend, spec).replace(num_boost_round=2)
        train(spark, holdout.limit(20_000), holdout.limit(5_000), warm, backend=backend)
    results = {}
    for backend in backends:
        with measured(spark) as m:
            result = train(spark, train_df, holdout, specs.get(backend, spec), backend=backend)
        threads = slots if backend == "local" else 1
        tasks = result.tasks or slots
        setup = (f"1 process × {threads} threads" if backend == "local" else f"{tasks} task(s) × 1 thread")
        results[backend] = (m, holdout_auc(score(holdout, result.booster, out_cols=["p"]), "p"),
                            f"{setup}, {result.booster.num_trees()} trees")
        print(f"  {backend} done in {m['seconds']:.1f}s", flush=True)

    assembled = VectorAssembler(inputCols=features, outputCol="features").transform(train_df)
    gbt = GBTClassifier(labelCol="label", maxIter=gbt_iter, maxDepth=5, maxBins=32, seed=1)
    with measured(spark) as m:
        model = gbt.fit(assembled)
    scored = model.transform(VectorAssembler(inputCols=features, outputCol="features").transform(holdout))
    gbt_auc = holdout_auc(scored.withColumn("p", vector_to_array("probability")[1]), "p")
    results["mllib_gbt"] = (m, gbt_auc, f"{gbt_iter} trees, depth 5, {slots} cores")
    print(f"  mllib_gbt done in {m['seconds']:.1f}s", flush=True)

    single = results["local"][0]["seconds"]
    print(f"\n{'method':<12} {'seconds':>8} {'x_single':>9} {'auc':>7} {'py_rss_mb':>10} {'jvm_heap_mb':>12}  setup")
    names = {"barrier": "barrier", "synapseml": "synapseml", "local": "single_proc", "mllib_gbt": "mllib_gbt"}
    for key, (m, auc, setup) in results.items():
        print(f"{names[key]:<12} {m['seconds']:>8.1f} {m['seconds'] / single:>9.2f} {auc:>7.4f} "
              f"{m['py_rss_mb']:>10.0f} {m['jvm_heap_mb']:>12.0f}  {setup}")
    dist_s, dist_auc = results["barrier"][0]["seconds"], results["barrier"][1]
    print(f"\nbarrier / single-process time: {dist_s / single:.2f}; AUC difference "
          f"{dist_auc - results['local'][1]:+.4f}")
    if "synapseml" in results:
        syn_s, syn_auc = results["synapseml"][0]["seconds"], results["synapseml"][1]
        print(f"SynapseML / barrier time: {syn_s / dist_s:.2f}; AUC SynapseML - barrier {syn_auc - dist_auc:+.4f}")
    gbt_s = results["mllib_gbt"][0]["seconds"]
    print(f"MLlib GBT ({gbt_iter} trees) / barrier time: {gbt_s / dist_s:.1f}x; "
          f"AUC barrier - GBT {dist_auc - results['mllib_gbt'][1]:+.4f}")
    return 0
