"""A/A study: split the same users by many salts; each test's false-positive rate should be ≈ alpha.

Outcomes are a generated world's raw tables (``raw.email_events``, ``raw.orders``,
``raw.email_sends``) over a window — real heavy-tailed revenue, rare unsubscribes —
exactly as ``ab-analyze`` reads them (``ab_analysis.user_outcomes``); the arms are
``experiments.arm_of`` with salts ``aa-0 … aa-<n-1>``. One Spark pass reduces users ×
salts to two rows per salt; the tests run on the driver (``ab_analysis.aa_study``).
Printed per metric: false-positive rate, its binomial 95 % interval, and whether
alpha lies inside.

    .venv/bin/python -m benchmarks aa --lake /tmp/aa/lake --salts 1000      # an existing world
    .venv/bin/python -m benchmarks aa --users 20000 --salts 1000             # generates one first
"""
from __future__ import annotations

import argparse
import datetime as dt
import tempfile
import time

from pyspark.sql import functions as F
from scipy import stats

from sendopt.catalog import open_lake
from sendopt.cli import main as cli
from sendopt.lake.quality import read_clean
from sendopt.lifecycle.ab_analysis import aa_study, user_outcomes

from .common import bench_session


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks aa")
    p.add_argument("--lake", help="lake root of an existing generated world (default: generate one)")
    p.add_argument("--users", type=int, default=20000)
    p.add_argument("--days", type=int, default=56)
    p.add_argument("--salts", type=int, default=1000)
    p.add_argument("--alpha", type=float, default=0.05)
    p.add_argument("--share", type=float, default=0.5, help="treatment share")
    p.add_argument("--window-days", type=int, default=28, help="outcome window: the last N days of the world")
    args = p.parse_args(argv)

    root = args.lake
    if root is None:
        root = tempfile.mkdtemp(prefix="bench_aa_") + "/lake"
        started = time.perf_counter()
        cli(["generate-world", "--set", f"lake.root={root}", "--set", f"world.users={args.users}",
             "--set", f"world.days={args.days}", "--set", "spark.shuffle_partitions=8"])
        print(f"generated {args.users} users x {args.days} days in {time.perf_counter() - started:.0f}s")
    config, spark = bench_session(root, "spark.shuffle_partitions=8")
    lake = open_lake(spark, config)
    last = lake.read("raw.email_sends").agg(F.max("event_date")).first()[0]  # one scalar
    start = last - dt.timedelta(days=args.window_days - 1)
    users = read_clean(lake, "raw.customers", last).select(
        "user_id", F.lit("aa").alias("arm"), F.lit(start).alias("first_assigned_date"))
    outcomes = user_outcomes(users, *(read_clean(lake, t, last) for t in
                                      ("raw.email_events", "raw.orders", "raw.email_sends")),
                             F.lit(start), last).drop("arm", "start").cache()
    n = outcomes.count()
    started = time.perf_counter()
    fpr = aa_study(outcomes, [f"aa-{i}" for i in range(args.salts)], args.share, args.alpha)
    seconds = time.perf_counter() - started
    print(f"A/A: {n} users, outcomes {start}..{last}, {args.salts} salts, treatment share {args.share}, "
          f"alpha {args.alpha} ({seconds:.0f}s)")
    print(f"  {'metric':18} {'FPR':>7} {'95% interval':>17}  alpha inside")
    for metric, rate in fpr.items():
        hits = round(rate * args.salts)
        lo, hi = stats.binomtest(hits, args.salts).proportion_ci(0.95)
        print(f"  {metric:18} {rate:>7.3f} [{lo:.3f}, {hi:.3f}]  {'yes' if lo <= args.alpha <= hi else 'NO'}")
    return 0
