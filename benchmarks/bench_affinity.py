"""MCC affinity: our sequential job vs Spark MLlib FPGrowth on the same card payments, side by side.

Both read the same payments (user_id, region, txn_ts, mcc) from Parquet, written once from a
generated world (only ``raw.card_transactions`` and ``raw.customers`` are generated) or from
``--lake`` (an existing lake's raw tables). Per window W:

* ours: :func:`sendopt.channels.push.affinity.affinities` for W alone, and for all ``--windows`` in
  one pass (the daily job's shape): follow-up sets over a (t, t+W] range frame, counts, baselines.
* FPGrowth: baskets = a customer's distinct MCCs per tumbling W-day window (days since 1970 // W),
  ``FPGrowth(minSupport = the same absolute support as ours / baskets)``, then the 1→1 association
  rules (all frequent itemsets are mined first, as FPGrowth cannot stop at pairs).

What FPGrowth cannot express, printed with the timings: order (a rule A→B holds whenever A and B
share a basket, B may come first), the sliding time window (pairs straddling a basket boundary are
lost, pairs up to 2W-apart inside one are counted), the per-trigger unit (a basket counts once
however many triggers it holds), and the refined baseline. Quality of both rankings is printed as
the planted pairs (from the world config, not the truth table) found in each top-k.

    .venv/bin/python -m benchmarks affinity --users 100000 [--payments /tmp/pay100k]   # kept for a re-run
    .venv/bin/python -m benchmarks affinity --users 1000000 --days 90   # same path, bigger world
"""
from __future__ import annotations

import argparse
import datetime as dt
import os
import shutil
import tempfile

from pyspark.ml.fpm import FPGrowth
from pyspark.sql import functions as F

from benchmarks.common import bench_session, measured
from sendopt.catalog import open_lake
from sendopt.channels.push.affinity import affinities
from sendopt.world.generate import world_tables
from sendopt.world.model import world_from

LIMITS = """FPGrowth cannot express: (1) order — a rule A->B counts baskets holding both, B may come first;
(2) a time window per trigger — tumbling W-day baskets lose pairs across a boundary and keep pairs up to
~2W apart; (3) the trigger as unit — a basket counts once however many A payments it holds; (4) the refined
baseline (the share among triggers with any follow-up); and it mines every frequent itemset size first."""


def payments(spark, config, lake_root: str | None, out: str) -> None:
    """Write (user_id, region, txn_ts, mcc) Parquet from ``lake_root`` or a freshly generated world."""
    if lake_root:
        other = config.lake.model_copy(update={"root": lake_root})
        lake = open_lake(spark, config.model_copy(update={"lake": other}))
        tx, customers = lake.read("raw.card_transactions"), lake.read("raw.customers")
    else:
        frames = world_tables(spark, world_from(config), ["raw.card_transactions", "raw.customers"])
        tx, customers = frames["raw.card_transactions"], frames["raw.customers"]
    (tx.join(customers.select("user_id", "region"), "user_id").select("user_id", "region", "txn_ts", "mcc")
     .write.mode("overwrite").parquet(out))


def ours(tx, windows, end, min_support, top_k, planted):
    stats = affinities(tx, windows, end, min_support=min_support).where("is_supported")
    rows = stats.collect()  # ≤ regions × windows × MCCs² aggregates
    return rows, {w: _hits(sorted((r for r in rows if r.window_days == w), key=lambda r: -r.lift_low), top_k,
                           planted, w) for w in windows}


def fpgrowth(tx, w, min_count, top_k, planted):
    day = F.floor(F.unix_seconds("txn_ts") / 86_400)
    bucket = (day / w).cast("long").alias("bucket")
    baskets = tx.groupBy("user_id", bucket).agg(F.collect_set("mcc").alias("items"))
    baskets = baskets.cache()
    n = baskets.count()
    model = FPGrowth(itemsCol="items", minSupport=min_count / n, minConfidence=0.0).fit(baskets)
    itemsets = model.freqItemsets.count()
    rules = (model.associationRules.where((F.size("antecedent") == 1) & (F.size("consequent") == 1))
             .select(F.col("antecedent")[0].alias("mcc1"), F.col("consequent")[0].alias("mcc2"), "lift")
             .collect())  # ≤ MCCs² rules
    baskets.unpersist()
    ranked = sorted(rules, key=lambda r: -r.lift)
    return n, itemsets, len(rules), _hits(ranked, top_k, planted, w)


def _hits(ranked, k, planted, w) -> str:
    relevant = {(p.mcc1, p.mcc2) for p in planted if p.window_days <= w}
    top = []
    for r in ranked:  # one entry per pair (our rows are per region: keep a pair's best rank)
        if (r.mcc1, r.mcc2) not in top:
            top.append((r.mcc1, r.mcc2))
        if len(top) == k:
            break
    return f"{len(relevant & set(top))}/{len(relevant)}"


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks affinity")
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--windows", type=int, nargs="+", default=[1, 3, 7], help="compared one by one")
    parser.add_argument("--all-windows", type=int, nargs="+", default=[1, 3, 7], help="ours in one pass")
    parser.add_argument("--lake", help="use this lake's raw tables instead of generating a world")
    parser.add_argument("--payments", help="reuse (or keep) the payments Parquet at this path")
    parser.add_argument("--min-support", type=int, default=30, help="absolute support for both methods")
    parser.add_argument("--top-k", type=int, default=10)
    parser.add_argument("--partitions", type=int, default=8)
    args = parser.parse_args(argv)
    work = tempfile.mkdtemp(prefix="bench-affinity-")
    config, spark = bench_session(f"{work}/lake", f"spark.shuffle_partitions={args.partitions}",
                                  f"world.users={args.users}", f"world.days={args.days}")
    source = args.payments or f"{work}/payments"
    with measured(spark) as m:
        if not os.path.exists(source):
            payments(spark, config, args.lake, source)
    tx = spark.read.parquet(source)
    n_tx, last = tx.agg(F.count(F.lit(1)), F.max("txn_ts")).first()
    end = dt.datetime.combine(last.date() + dt.timedelta(days=1), dt.time())
    planted = config.world.cards.planted_pairs
    print(f"payments {n_tx:,} of {args.users:,} users x {args.days} days (written in {m['seconds']:.0f} s); "
          f"Spark slots {spark.sparkContext.defaultParallelism}, load avg {os.getloadavg()[0]:.1f}",
          flush=True)

    print(f"\n{'method':<22} {'W':>2} {'seconds':>8} {'baskets':>10} {'itemsets':>8} {'rows':>6} "
          f"{f'planted@{args.top_k}':>10} {'py_rss':>7} {'jvm_heap':>8}")
    ours(tx.where(F.col("user_id") < "u1"), args.windows, end, 1, 1, planted)  # warm-up, not timed
    ratios = []
    for w in args.windows:
        with measured(spark) as m:
            rows, hits = ours(tx, [w], end, args.min_support, args.top_k, planted)
        t_ours = m["seconds"]
        print(f"{'ours':<22} {w:>2} {t_ours:>8.1f} {'-':>10} {'-':>8} {len(rows):>6} {hits[w]:>10} "
              f"{m['py_rss_mb']:>7.0f} {m['jvm_heap_mb']:>8.0f}", flush=True)
        with measured(spark) as m:
            n, itemsets, rules, fp_hits = fpgrowth(tx, w, args.min_support, args.top_k, planted)
        print(f"{'FPGrowth':<22} {w:>2} {m['seconds']:>8.1f} {n:>10,} {itemsets:>8,} {rules:>6} "
              f"{fp_hits:>10} {m['py_rss_mb']:>7.0f} {m['jvm_heap_mb']:>8.0f}", flush=True)
        ratios.append((w, t_ours / m["seconds"]))
    with measured(spark) as m:  # after the warm-up of the rounds above
        _, hits = ours(tx, args.all_windows, end, args.min_support, args.top_k, planted)
    all_windows = m["seconds"]
    print(f"{'ours (all W, 1 pass)':<22} {'*':>2} {all_windows:>8.1f} {'-':>10} {'-':>8} {'-':>6} "
          f"{' '.join(hits.values()):>10} {m['py_rss_mb']:>7.0f} {m['jvm_heap_mb']:>8.0f}", flush=True)
    print("\ntime ours / FPGrowth per window: " + ", ".join(f"W={w}: {r:.2f}" for w, r in ratios)
          + f"; ours for W={args.all_windows} in one pass: {all_windows:.1f} s"
          + f"; load avg now {os.getloadavg()[0]:.1f}")
    print(LIMITS)
    shutil.rmtree(work, ignore_errors=True)
    return 0
