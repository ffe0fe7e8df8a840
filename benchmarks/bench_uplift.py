"""Coupon uplift at scale: learners, scoring + allocation, bootstrap intervals, driver memory.

A synthetic randomized trial (control + ``--levels`` levels, 8 features, planted heterogeneous effects)
is built in Spark. Measured side by side: training time per learner (through the project trainer),
scoring + Lagrangian allocation of every customer under a budget, the Qini bootstrap, the peak driver
memory of each stage, and single-process references fitted on the same training rows collected to the
driver where they fit: a T-learner of plain LightGBM boosters, and causalml's ``BaseTClassifier`` and
``BaseXClassifier`` over LightGBM (when causalml is installed: ``pip install causalml``; it is not a
project dependency). Every learner's mean absolute error of the conversion effect against the planted
effect is printed on the holdout.

    .venv/bin/python -m benchmarks uplift --rows 200000 --kinds t,x,dr,s
"""
from __future__ import annotations

import argparse
import tempfile
import time

import lightgbm as lgb
import numpy as np
from pyspark.sql import functions as F

from benchmarks.common import bench_session, measured
from sendopt.channels.coupons.allocation import allocate
from sendopt.channels.coupons.config import LearnerConfig
from sendopt.channels.coupons.learners import fit_learners, predict
from sendopt.channels.coupons.metrics import hash_uniform, uplift_curves

FEATURES = [f"x{i}" for i in range(8)]


def trial(spark, rows: int, levels: list[float], partitions: int):
    """Randomized trial: conversion effect of level k = 0.04·k·(x0 > 0.5) + 0.02·k·x1 − 0.03·[x2 > 0.8]."""
    df = spark.range(rows, numPartitions=partitions).withColumn("user_id", F.concat(F.lit("u"), F.col("id")))
    for i, f in enumerate(FEATURES):
        df = df.withColumn(f, hash_uniform(F.col("id"), 100 + i))
    arms = len(levels)
    df = df.withColumn("arm", (hash_uniform(F.col("id"), 7) * arms).cast("int"))
    k = F.col("arm").cast("double")
    p = (0.15 + 0.1 * F.col("x3") + 0.04 * k * (F.col("x0") > 0.5).cast("double") + 0.02 * k * F.col("x1")
         - 0.03 * k * (F.col("x2") > 0.8).cast("double"))
    conv = (hash_uniform(F.col("id"), 9) < p).cast("int")
    face = F.element_at(F.array(*[F.lit(float(v)) for v in levels]), F.col("arm") + 1)
    return (df.withColumn("converted", conv).withColumn("value", conv * (60 + 80 * F.col("x4")))
            .withColumn("cost", conv * face).withColumn("propensity", F.lit(1.0 / arms))
            .withColumn("net", F.col("value") - F.col("cost")).drop("id"))


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks uplift")
    ap.add_argument("--rows", type=int, default=200_000)
    ap.add_argument("--levels", type=int, default=4)
    ap.add_argument("--kinds", default="t,x,dr,s")
    ap.add_argument("--bootstrap", type=int, default=100)
    ap.add_argument("--rounds", type=int, default=100)
    ap.add_argument("--local-max-rows", type=int, default=2_000_000)
    ap.add_argument("--no-causalml", action="store_true", help="skip the causalml reference fits")
    args = ap.parse_args(argv)
    work = tempfile.mkdtemp(prefix="bench-uplift-")
    _, spark = bench_session(f"{work}/lake", "spark.shuffle_partitions=8")
    levels = [0.0] + [5.0 * 2**i for i in range(args.levels)]
    data = trial(spark, args.rows, levels, 8)
    path = f"{work}/trial"
    data.write.parquet(path)
    data = spark.read.parquet(path)
    train_df = data.where(hash_uniform(F.col("user_id"), 3) >= 0.3).cache()
    hold = data.where(hash_uniform(F.col("user_id"), 3) < 0.3).cache()
    n_train, n_hold = train_df.count(), hold.count()
    cfg = LearnerConfig(num_boost_round=args.rounds, max_train_rows=None)
    print(f"trial: {args.rows:,} customers, {len(levels)} arms, train {n_train:,} / holdout {n_hold:,}")
    print(f"{'stage':36} {'seconds':>8} {'py RSS MB':>10} {'JVM MB':>8}")
    models = {}
    for kind in args.kinds.split(","):
        with measured(spark) as m:
            got, _ = fit_learners(spark, train_df, FEATURES, levels, levels, cfg, [kind])
        models.update(got)
        print(f"{'train ' + kind:36} {m['seconds']:8.1f} {m['py_rss_mb']:10.0f} {m['jvm_heap_mb']:8.0f}")
    kind = next(iter(models))
    arms = len(levels)
    with measured(spark) as m:
        scored = predict(data, models[kind]).localCheckpoint()
        free = allocate(scored, [f"tau_{k}" for k in range(arms)], [f"cost_{k}" for k in range(arms)])
        alloc = allocate(scored, [f"tau_{k}" for k in range(arms)], [f"cost_{k}" for k in range(arms)],
                         budget=0.3 * free.spend)
    print(f"{'score + allocate ' + kind + f' ({args.rows:,})':36} {m['seconds']:8.1f} {m['py_rss_mb']:10.0f} "
          f"{m['jvm_heap_mb']:8.0f}   spend {alloc.spend:,.0f} ≤ {0.3 * free.spend:,.0f}, {alloc.steps} aggregations")
    with measured(spark) as m:
        rows = predict(hold, models[kind]).where(F.col("arm").isin(0, arms - 1)).withColumn(
            "_t", (F.col("arm") == arms - 1).cast("int"))
        c = uplift_curves(rows, f"tau_{arms - 1}", "_t", "converted", grid=200, bootstrap=args.bootstrap)
    lo, hi = c.intervals.get("qini_coefficient", (float("nan"),) * 2)
    print(f"{f'qini + {args.bootstrap} bootstrap':36} {m['seconds']:8.1f} {m['py_rss_mb']:10.0f} "
          f"{m['jvm_heap_mb']:8.0f}   Qini {c.qini_coefficient:.3f} [{lo:.3f}, {hi:.3f}] on {c.rows:,} rows")
    truth_cols = [(0.04 * k * (F.col("x0") > 0.5).cast("double") + 0.02 * k * F.col("x1")
                   - 0.03 * k * (F.col("x2") > 0.8).cast("double")).alias(f"t{k}") for k in range(1, arms)]
    if n_train <= args.local_max_rows:
        _single_process(train_df, hold, truth_cols, arms, args)
    truth = hold.select(*truth_cols, "user_id")
    for kind, model in models.items():
        err = predict(hold, model).join(truth, "user_id").agg(*[F.avg(F.abs(
            F.col(f"conv_{k}") - F.col("conv_0") - F.col(f"t{k}"))).alias(f"e{k}") for k in range(1, arms)]).first()
        print(f"mean |error| of {kind} (Spark)'s conversion effect per level: " +
              ", ".join(f"{levels[k]:g}: {err[f'e{k}']:.4f}" for k in range(1, arms)))
    return 0


def _single_process(train_df, hold, truth_cols, arms: int, args) -> None:
    """In-memory references on the same rows: plain LightGBM T-learner, causalml T and X (if installed)."""
    t0 = time.perf_counter()
    pdf = train_df.select(*FEATURES, "arm", "converted", "value").toPandas()
    collect = time.perf_counter() - t0
    params = {"objective": "binary", "learning_rate": 0.05, "num_leaves": 15, "min_data_in_leaf": 40,
              "verbosity": -1, "num_threads": 2}
    t0 = time.perf_counter()
    for k in range(arms):
        part = pdf[pdf["arm"] == k]
        lgb.train(params, lgb.Dataset(part[FEATURES].to_numpy(), part["converted"].to_numpy()), args.rounds)
        lgb.train({**params, "objective": "regression"},
                  lgb.Dataset(part[FEATURES].to_numpy(), part["value"].to_numpy()), args.rounds)
    print(f"{'single-process T-learner (pandas)':36} {time.perf_counter() - t0:8.1f}   (+ collect {collect:.1f}s; "
          f"no early stopping, {args.rounds} rounds, 2 threads, conversion + value)")
    if args.no_causalml:
        return
    try:
        from causalml.inference.meta import BaseTClassifier, BaseXClassifier
    except ImportError:
        print("causalml not installed (pip install causalml): its reference fits skipped")
        return
    from lightgbm import LGBMClassifier, LGBMRegressor

    hold_pdf = hold.select(*FEATURES, *truth_cols).toPandas()
    x, w, y = pdf[FEATURES].to_numpy(), pdf["arm"].to_numpy(), pdf["converted"].to_numpy()
    lgbm = {"n_estimators": args.rounds, "learning_rate": 0.05, "num_leaves": 15, "min_child_samples": 40,
            "verbose": -1, "n_jobs": 2}
    for name, make in (("causalml T (LGBM)", lambda: BaseTClassifier(learner=LGBMClassifier(**lgbm))),
                       ("causalml X (LGBM)", lambda: BaseXClassifier(outcome_learner=LGBMClassifier(**lgbm),
                                                                    effect_learner=LGBMRegressor(**lgbm)))):
        learner = make()
        xh = hold_pdf[FEATURES].to_numpy()
        is_x = name.startswith("causalml X")
        t0 = time.perf_counter()  # the trial is randomized: X gets the known propensities, not a fitted model
        learner.fit(x, treatment=w, y=y, p={k: np.full(len(x), 1.0 / arms) for k in range(1, arms)} if is_x else None)
        fit_s = time.perf_counter() - t0
        tau = learner.predict(xh, p={k: np.full(len(xh), 1.0 / arms) for k in range(1, arms)} if is_x else None,
                              verbose=False)
        err = [float(np.mean(np.abs(tau[:, k - 1] - hold_pdf[f"t{k}"].to_numpy()))) for k in range(1, arms)]
        print(f"{name + ', conversion only':36} {fit_s:8.1f}   mean |error| per level: "
              + ", ".join(f"{e:.4f}" for e in err))
