"""Drift proof: a behaviour shift at a date, the monitors firing, and a retrained champion vs a frozen model.

A world is generated up to the shift date; from then on ``world.shift`` raises email
fatigue (unsubscribe sensitivity). Week after week the script runs the production loop
on one market — build-features → decide-email (champion) → simulate-outcomes for the
7 days → monitor → retrain-if-triggered — and, on each week's first day, also decides
with the *frozen* first model (version 1) and values both decision sets with the truth
(``evaluate-email``, the ``published`` row). Printed: the monitor verdicts and causes per
week, the retrain decisions, and true net value per user-week of retrained vs frozen.

    .venv/bin/python -m benchmarks drift --users 3000 --history-days 42 --weeks 4
"""
from __future__ import annotations

import argparse
import datetime as dt
import shutil
import tempfile
import time
from types import SimpleNamespace

from pyspark.sql import functions as F

from benchmarks.common import copy_week_decisions
from sendopt.catalog import open_lake
from sendopt.channels.email.decide import decide, with_run_columns
from sendopt.channels.email.inputs import market_features
from sendopt.channels.email.model import EmailResponseModel
from sendopt.channels.email.tables import EMAIL_FREQUENCY, EMAIL_POLICY_EVALUATION
from sendopt.config import ConfigLoader
from sendopt.lake import Lake
from sendopt.lifecycle.tables import MODEL_EVALUATIONS, RETRAIN_TRIGGERS
from sendopt.models import tracking
from sendopt.registry import JOBS
from sendopt.runner import run_job
from sendopt.spark import get_spark

REGION, BRAND = "north", "alpha"


def overrides(args, root: str) -> list[str]:
    return [
        f"lake.root={root}", "spark.master=local[2]", "spark.shuffle_partitions=4", "spark.conf.spark.ui.enabled=false",
        "spark.driver_memory=2g",
        f"markets=[{{region: {REGION}, brand: {BRAND}}}]", f"world.users={args.users}",
        f"world.days={args.history_days}", "world.users_per_partition=5000", "world.promos.campaigns=5",
        f"world.shift={{date: {args.shift_date}, unsubscribe_logit_delta: {args.unsubscribe_delta}, "
        f"fatigue_multiplier: {args.fatigue_multiplier}}}",
        f"email.policy={args.policy}", "email.training.num_boost_round=120",
        f"lifecycle.retrain.window_weeks={args.window_weeks}",
        *args.set,
    ]


def job(name: str, base: list[str], spark, date: dt.date | None = None, market: bool = True):
    loader = ConfigLoader("local", overrides=[*base, *([f"run.date={date}"] if date else [])])
    started = time.perf_counter()
    ctxs = run_job(JOBS[name], loader, REGION if market else None, BRAND if market else None, spark=spark)
    print(f"  {name:22} {str(date or ''):10} {time.perf_counter() - started:6.1f}s  "
          f"{(ctxs[0].summary.get('message') or '')[:160] if ctxs else ''}", flush=True)
    return ctxs[0] if ctxs else None


def published_value(lake: Lake, date: dt.date) -> float:
    row = (lake.read(EMAIL_POLICY_EVALUATION)
           .where((F.col("decision_date") == F.lit(date)) & (F.col("policy") == "published"))
           .select("net_value_per_user").first())  # one row
    return float(row[0])


def frozen_decisions(spark, base: list[str], date: dt.date) -> None:
    """Publish the frozen model's (version 1) decisions for ``date`` (replaced by the champion's after)."""
    config = ConfigLoader("local", overrides=[*base, f"run.date={date}"]).load(REGION, BRAND)
    lake = open_lake(spark, config)
    ctx = SimpleNamespace(lake=lake, config=config, run_date=date, region=REGION, brand=BRAND)
    tracking.configure(config)
    model = EmailResponseModel(config, REGION, BRAND)
    frozen = tracking.load_model(model.name, "1")
    features, _ = market_features(ctx)
    _, decisions = decide(features, model, frozen, config.email, REGION)
    out = with_run_columns(decisions, date, REGION, BRAND, frozen, "bench-drift-frozen", config.config_hash)
    lake.write(out.select(*EMAIL_FREQUENCY.column_names), EMAIL_FREQUENCY, mode="replace",
               where={"decision_date": date, "region": REGION, "brand": BRAND})


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="benchmarks drift")
    p.add_argument("--users", type=int, default=3000)
    p.add_argument("--history-days", type=int, default=42, help="generated days before the loop (a multiple of 7)")
    p.add_argument("--weeks", type=int, default=4, help="simulated weeks after the shift")
    p.add_argument("--unsubscribe-delta", type=float, default=0.3)
    p.add_argument("--fatigue-multiplier", type=float, default=1.6)
    p.add_argument("--policy", default="optimizer", choices=["optimizer", "tiers"])
    p.add_argument("--window-weeks", type=int, default=4)
    p.add_argument("--lake", default=None, help="lake root (default: a temporary folder, removed after)")
    p.add_argument("--set", action="append", default=[], help="extra config overrides")
    p.add_argument("--skip-features", action="store_true", help="the resumed week's features are already built")
    p.add_argument("--resume-week", type=int, default=1,
                   help="continue an interrupted run in --lake from this week (earlier weeks read back)")
    args = p.parse_args(argv)
    root = args.lake or tempfile.mkdtemp(prefix="bench_drift_")
    start = dt.date(2026, 1, 1)
    shift = start + dt.timedelta(days=args.history_days)
    args.shift_date = shift
    base = overrides(args, root)
    config = ConfigLoader("local", overrides=base).load()
    spark = get_spark(config)
    lake = open_lake(spark, config)
    print(f"drift proof: {args.users} users, history to {shift - dt.timedelta(days=1)}, shift on {shift} "
          f"(unsubscribe logit +{args.unsubscribe_delta}, fatigue x{args.fatigue_multiplier}), policy "
          f"{args.policy}, lake {root}", flush=True)
    t0 = time.perf_counter()
    weeks = []
    if args.resume_week == 1:
        job("generate-world", base, spark, market=False)
        job("validate-raw", base, spark, shift, market=False)
        job("build-features", base, spark, shift, market=False)
        job("ensure-models", base, spark, shift)
    for w in range(args.resume_week - 1):  # resumed: earlier weeks' champion value; frozen known while v1 ruled
        day0 = shift + dt.timedelta(days=7 * w)
        champion = lake.read(EMAIL_FREQUENCY).where(F.col("decision_date") == F.lit(day0)).select(
            "model_version").first()[0]  # one value
        live = published_value(lake, day0)
        weeks.append((w + 1, day0, champion, live, live if champion == "1" else float("nan")))
    for w in range(args.resume_week - 1, args.weeks):
        day0 = shift + dt.timedelta(days=7 * w)
        print(f"week {w + 1} ({day0}):", flush=True)
        if w > 0:
            if not (w == args.resume_week - 1 and args.skip_features):
                job("build-features", base, spark, day0, market=False)
            job("monitor", base, spark, day0)
            job("retrain-if-triggered", base, spark, day0)
        frozen_decisions(spark, base, day0)
        job("evaluate-email", base, spark, day0)
        frozen = published_value(lake, day0)
        job("decide-email", base, spark, day0)
        job("evaluate-email", base, spark, day0)
        live = published_value(lake, day0)
        champion = lake.read(EMAIL_FREQUENCY).where(F.col("decision_date") == F.lit(day0)).select(
            "model_version").first()[0]  # one value
        copy_week_decisions(lake, day0, 7, REGION, BRAND)
        for i in range(7):
            job("simulate-outcomes", base, spark, day0 + dt.timedelta(days=i), market=False)
        weeks.append((w + 1, day0, champion, live, frozen))
    end = shift + dt.timedelta(days=7 * args.weeks)
    job("build-features", base, spark, end, market=False)
    job("monitor", base, spark, end)

    print("\nmonitor verdicts (monitoring.retrain_triggers):")
    for r in lake.read(RETRAIN_TRIGGERS).orderBy("run_date").collect():  # one row per week
        print(f"  {r.run_date} v{r.model_version} triggered={r.triggered}")
        for c in r.causes or []:
            print(f"      {c}")
    if lake.exists(MODEL_EVALUATIONS):
        print("\nretrain cycles (ops.model_evaluations):")
        for r in lake.read(MODEL_EVALUATIONS).orderBy("run_date", "role").collect():  # a few rows
            print(f"  {r.run_date} {r.role:10} v{r.model_version} {r.decision:15} AUC {r.auc or float('nan'):.4f} "
                  f"ECE {r.ece or float('nan'):.4f}  " + "; ".join(x for x in (r.reasons or []) if x.startswith("FAIL")))
    print("\ntrue net value per user-week of the week's decisions (evaluate-email, 'published'):")
    print(f"  {'week':>4} {'date':10} {'champion':>8} {'champion':>9} {'frozen v1':>9} {'ratio':>6}")
    for w, d, v, live, frozen in weeks:
        print(f"  {w:>4} {d} {'v' + str(v):>8} {live:>9.3f} {frozen:>9.3f} {live / frozen if frozen else 0:>6.3f}")
    print(f"\ntotal {time.perf_counter() - t0:.0f}s; reports under {root}/_reports/monitor/")
    if not args.lake:
        shutil.rmtree(root, ignore_errors=True)
    return 0
