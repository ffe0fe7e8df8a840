"""A/B proof on the world: the model's tiers policy (control) vs send-daily (treatment), day after day.

One market. A world is generated for ``--history-days``; the champion is trained;
then for each simulated week: build-features → decide-email (champion) → ab-assign →
the arms applied to the week's decisions exactly as decide-email would apply them
(``experiments.arm_frequency`` before exploration and hard rules; the exploration
holdout keeps its random frequency) → evaluate-email (truth: how the two policies
really compare on this population) → simulate-outcomes for the 7 days. Finally
``ab-analyze`` reads only raw outcomes and prints the tests and the rollout verdict.

With treatment = send-daily the truth says: more unsubscribes (fatigue) for a small
revenue gain or loss, so the rule must *not* roll out send-daily — and, with arms
swapped (``--swap``: control = send-daily, treatment = the model), must roll out the
model when the unsubscribe reduction is detectable at this size.

    .venv/bin/python -m benchmarks ab_world --users 6000 --history-days 42 --weeks 2
"""
from __future__ import annotations

import argparse
import datetime as dt
import tempfile
import time

from pyspark.sql import functions as F

from benchmarks.common import copy_week_decisions
from sendopt.catalog import open_lake
from sendopt.channels.email.decide import hard_rules
from sendopt.channels.email.experiments import ab_arm_column, arm_frequency
from sendopt.channels.email.inputs import market_features
from sendopt.channels.email.tables import EMAIL_FREQUENCY, EMAIL_POLICY_EVALUATION
from sendopt.config import ConfigLoader
from sendopt.registry import JOBS
from sendopt.runner import run_job
from sendopt.spark import get_spark

REGION, BRAND = "north", "alpha"


def overrides(args, root: str, start: dt.date) -> list[str]:
    model, daily = "{policy: current}", "{policy: fixed, emails_per_week: 7}"
    control, treatment = (daily, model) if args.swap else (model, daily)
    return [
        f"lake.root={root}", "spark.master=local[2]", "spark.shuffle_partitions=4",
        "spark.conf.spark.ui.enabled=false", f"markets=[{{region: {REGION}, brand: {BRAND}}}]",
        f"world.users={args.users}", f"world.days={args.history_days}", "world.users_per_partition=5000",
        "world.promos.campaigns=5", "email.training.num_boost_round=120",
        "lifecycle.experiments.enabled=true", "lifecycle.experiments.name=ab-world",
        f"lifecycle.experiments.salt={args.salt}", f"lifecycle.experiments.start_date={start}",
        f"lifecycle.experiments.control={control}", f"lifecycle.experiments.treatment={treatment}",
        *args.set,
    ]


def job(name: str, base: list[str], spark, date: dt.date | None = None, market: bool = True):
    loader = ConfigLoader("local", overrides=[*base, *([f"run.date={date}"] if date else [])])
    started = time.perf_counter()
    ctxs = run_job(JOBS[name], loader, REGION if market else None, BRAND if market else None, spark=spark)
    print(f"  {name:18} {str(date or ''):10} {time.perf_counter() - started:6.1f}s  "
          f"{(ctxs[0].summary.get('message') or '')[:150] if ctxs else ''}", flush=True)
    return ctxs[0] if ctxs else None


def apply_arms(spark, base: list[str], date: dt.date) -> dict:
    """Rewrite the day's decisions with each arm's policy — the wiring decide-email gets (see docs/lifecycle.md)."""
    config = ConfigLoader("local", overrides=[*base, f"run.date={date}"]).load(REGION, BRAND)
    lake = open_lake(spark, config)
    email, experiments = config.email, config.lifecycle.experiments
    ctx = type("Ctx", (), {"lake": lake, "config": config, "run_date": date, "region": REGION, "brand": BRAND})
    features, _ = market_features(ctx)
    decisions = lake.read(EMAIL_FREQUENCY).where(F.col("decision_date") == F.lit(date))
    arm = ab_arm_column(F.col("user_id"), experiments, email.exploration)
    rows = decisions.join(features.drop("region", "brand", "snapshot_date"), "user_id").withColumn("arm", arm)
    k, _ = hard_rules(arm_frequency(F.col("arm"), experiments, email, F.col("emails_per_week")), email, REGION)
    out = rows.withColumn("emails_per_week", F.when(F.col("is_exploration"), F.col("emails_per_week"))
                          .otherwise(k)).select(*EMAIL_FREQUENCY.column_names).cache()
    mix = {(r.arm, r.emails_per_week): r["count"] for r in out.join(rows.select("user_id", "arm"), "user_id")
           .groupBy("arm", "emails_per_week").count().collect()}  # ≤ 3 × 8 rows
    lake.write(out, EMAIL_FREQUENCY, mode="replace", where={"decision_date": date, "region": REGION, "brand": BRAND})
    out.unpersist()
    return mix


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks ab_world")
    p.add_argument("--users", type=int, default=6000)
    p.add_argument("--history-days", type=int, default=42, help="a multiple of 7: the experiment starts a week")
    p.add_argument("--weeks", type=int, default=2)
    p.add_argument("--salt", default="ab-world-v1")
    p.add_argument("--swap", action="store_true", help="control = send-daily, treatment = the model's tiers")
    p.add_argument("--root", help="lake root (default: a temporary folder)")
    p.add_argument("--reuse", action="store_true", help="keep the world already generated under --root")
    p.add_argument("--set", action="append", default=[], help="extra config overrides key=value")
    args = p.parse_args(argv)

    root = args.root or tempfile.mkdtemp(prefix="bench_ab_") + "/lake"
    start = dt.date(2026, 1, 1) + dt.timedelta(days=args.history_days)
    base = overrides(args, root, start)
    config = ConfigLoader("local", overrides=base).load(REGION, BRAND)
    spark = get_spark(config)
    started = time.perf_counter()
    print(f"A/B on the world: {args.users} users, history {args.history_days} days, experiment from {start} for "
          f"{args.weeks} weeks; control={config.lifecycle.experiments.control.policy}, "
          f"treatment={config.lifecycle.experiments.treatment}; lake {root}", flush=True)
    if not (args.reuse and open_lake(spark, config).exists("raw.customers")):
        job("generate-world", base, spark, market=False)
    job("build-features", base, spark, start, market=False)
    job("ensure-models", base, spark, start)
    for week in range(args.weeks):
        day0 = start + dt.timedelta(days=7 * week)
        if week:
            job("build-features", base, spark, day0, market=False)
        job("decide-email", base, spark, day0)
        job("ab-assign", base, spark, day0)
        print(f"  arms applied on {day0}: (arm, emails/week) → users {apply_arms(spark, base, day0)}", flush=True)
        job("evaluate-email", base, spark, day0)
        lake = open_lake(spark, config)
        truth = {r.policy: r for r in lake.read(EMAIL_POLICY_EVALUATION)
                 .where(F.col("decision_date") == F.lit(day0)).collect()}  # one row per policy
        for policy in ("tiers", "daily"):
            r = truth[policy]
            print(f"  truth {day0} {policy:6}: net value {r.net_value_per_user:.3f}, revenue {r.revenue_per_user:.3f}, "
                  f"unsubscribe {100 * r.unsubscribe_rate:.3f}% per user-week", flush=True)
        copy_week_decisions(open_lake(spark, ConfigLoader("local", overrides=base).load(REGION, BRAND)), day0, 7,
                            REGION, BRAND)
        for i in range(7):
            job("simulate-outcomes", base, spark, day0 + dt.timedelta(days=i), market=False)
    end = start + dt.timedelta(days=7 * args.weeks - 1)
    job("ab-analyze", base, spark, end)
    print(f"total {time.perf_counter() - started:.0f}s", flush=True)
    return 0
