"""World generation at scale: rows/s per table, total time and driver memory per user count.

Writes each world into a fresh embedded lake (the real ``generate-world`` path) and
prints one line per table, then the totals; growth should be linear in users while the
driver's memory stays flat. ``--effects`` also measures the planted effects in the raw
data of the last world (MCC pair lifts, exploration response by frequency).

    .venv/bin/python -m benchmarks world --users 100000 1000000 --days 90
"""
from __future__ import annotations

import argparse
import shutil
import tempfile

from pyspark.sql import functions as F

from benchmarks.common import bench_session, measured
from sendopt.catalog import open_lake
from sendopt.world.jobs import write_world
from sendopt.world.model import world_from


def planted_effects(lake, world) -> None:
    """Print the lift of every planted MCC pair and the exploration response curve, from raw tables."""
    start = F.lit(world.config.start_date)
    tx = lake.read("raw.card_transactions").select("user_id", "mcc", F.datediff("event_date", start).alias("d"))
    days = tx.select("user_id", "d", "mcc").distinct().cache()
    print(f"\n{'mcc1':>5} {'mcc2':>5} {'window':>6} {'strength':>8} {'lift':>6}")
    for p in world.config.cards.planted_pairs:
        follow = days.where(F.col("mcc") == p.mcc2).select("user_id", F.col("d").alias("d1"))
        anchors = days.select("user_id", F.col("d").alias("d0"), (F.col("mcc") == p.mcc1).alias("is1"))
        hit = anchors.join(follow, "user_id", "left").groupBy("user_id", "d0", "is1").agg(
            F.max(((F.col("d1") > F.col("d0")) & (F.col("d1") <= F.col("d0") + p.window_days)).cast("int"))
            .alias("hit")).fillna(0)
        after1, base = hit.agg(F.avg(F.when(F.col("is1"), F.col("hit"))), F.avg("hit")).first()
        print(f"{p.mcc1:>5} {p.mcc2:>5} {p.window_days:>6} {p.strength:>8.2f} {after1 / base:>6.2f}")
    days.unpersist()

    week = F.date_sub("event_date", F.datediff("event_date", start) % 7)
    buy = lake.read("raw.orders").select("user_id", week.alias("week_start")).distinct().withColumn("buy", F.lit(1))
    unsub = (lake.read("raw.email_events").where("event_type = 'unsubscribe'")
             .select("user_id", week.alias("week_start")).distinct().withColumn("unsub", F.lit(1)))
    units = (lake.read("raw.email_assignments").where("policy = 'exploration'")
             .join(buy, ["user_id", "week_start"], "left").join(unsub, ["user_id", "week_start"], "left")
             .fillna(0, ["buy", "unsub"]))
    print(f"\n{'sends/week':>10} {'units':>9} {'p_purchase':>10} {'p_unsub':>8}")
    for r in units.groupBy("sends").agg(F.count(F.lit(1)).alias("n"), F.avg("buy").alias("b"),
                                         F.avg("unsub").alias("u")).orderBy("sends").collect():
        print(f"{r['sends']:>10} {r['n']:>9} {r['b']:>10.4f} {r['u']:>8.4f}")


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks world")
    parser.add_argument("--users", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--effects", action="store_true", help="measure planted effects in the last world")
    parser.add_argument("--keep", action="store_true", help="keep the lakes (printed paths)")
    args = parser.parse_args(argv)
    work = tempfile.mkdtemp(prefix="bench-world-")
    config, spark = bench_session(f"{work}/lake", "spark.shuffle_partitions=8")
    totals = []
    for users in args.users:
        root = f"{work}/lake-{users}"
        cfg = config.model_copy(update={
            "world": config.world.model_copy(update={"users": users, "days": args.days}),
            "lake": config.lake.model_copy(update={"root": root}),
        })
        world = world_from(cfg)
        lake = open_lake(spark, cfg, job="bench-world")
        print(f"\n== {users:,} users x {args.days} days -> {root}")
        print(f"{'table':32} {'rows':>12} {'seconds':>8} {'rows/s':>10}")
        with measured(spark) as m:
            written = write_world(lake, world)
        for table, (rows, seconds) in written.items():
            print(f"{table:32} {rows:>12,} {seconds:>8.1f} {rows / max(seconds, 1e-9):>10,.0f}")
        rows = sum(r for r, _ in written.values())
        print(f"{'TOTAL':32} {rows:>12,} {m['seconds']:>8.1f} {rows / m['seconds']:>10,.0f}"
              f"   driver peak: python {m['py_rss_mb']:.0f} MB, JVM heap {m['jvm_heap_mb']:.0f} MB")
        totals.append((users, rows, m["seconds"], m["py_rss_mb"], m["jvm_heap_mb"]))
        if args.effects and users == args.users[-1]:
            planted_effects(lake, world)
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
    print(f"\n{'users':>10} {'rows':>13} {'seconds':>8} {'s/100k users':>12} {'py_rss_mb':>9} {'jvm_heap_mb':>11}")
    for users, rows, seconds, py, jvm in totals:
        print(f"{users:>10,} {rows:>13,} {seconds:>8.1f} {seconds / users * 1e5:>12.1f} {py:>9.0f} {jvm:>11.0f}")
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    return 0
