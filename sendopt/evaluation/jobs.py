"""The truth evaluations' jobs: ``evaluate-email``, ``backtest-truth``, ``evaluate-push``, ``evaluate-affinity``.

They live here, not in their channels, because only ``sendopt.evaluation`` (and the world) may read truth.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from pyspark.sql import functions as F

from sendopt.channels.email.backtest import backtest
from sendopt.channels.email.inputs import market_features
from sendopt.channels.email.tables import EMAIL_FREQUENCY, EMAIL_POLICY_EVALUATION
from sendopt.channels.primitives import in_market
from sendopt.channels.push.jobs import best_pairs
from sendopt.channels.push.send_time import send_hours
from sendopt.channels.push.tables import MCC_AFFINITY, PUSH_NOTIFICATIONS, PUSH_POLICY_EVALUATION
from sendopt.errors import SendoptError
from sendopt.evaluation import without_truth
from sendopt.evaluation.backtest_truth import TRAITS, true_values_of
from sendopt.evaluation.email_policy import evaluate_policies, format_table, log_to_mlflow
from sendopt.evaluation.mcc_affinity import TRUTH, evaluate, fmt_num, format_tables, planted_ranks
from sendopt.evaluation.push_policy import policy_table, with_truth
from sendopt.observability import stage
from sendopt.world.generate import lake_world

if TYPE_CHECKING:
    from sendopt.runner import JobContext


def run_evaluate_email(ctx: JobContext) -> None:
    if without_truth(ctx, "evaluate-email"):
        return
    lake, email = ctx.lake, ctx.config.email
    decisions = lake.read(EMAIL_FREQUENCY).where(
        (F.col("decision_date") == F.lit(ctx.run_date)) & (F.col("region") == ctx.region)
        & (F.col("brand") == ctx.brand)
    )
    features, _ = market_features(ctx)
    with stage(ctx.spark, ctx.log, "evaluate-email", region=ctx.region, brand=ctx.brand):
        result = evaluate_policies(decisions, features, lake.read("truth.user_traits"),
                                   lake_world(ctx.lake, ctx.config), email, ctx.region)
        out = result.select(
            F.lit(ctx.run_date).alias("decision_date"), F.lit(ctx.region).alias("region"),
            F.lit(ctx.brand).alias("brand"), "*", F.lit(ctx.run_id).alias("run_id"),
            F.lit(ctx.config.config_hash).alias("config_hash"),
        ).select(*EMAIL_POLICY_EVALUATION.column_names)
        where = {"decision_date": ctx.run_date, "region": ctx.region, "brand": ctx.brand}
        lake.write(out, EMAIL_POLICY_EVALUATION, mode="replace", where=where)
    rows = result.collect()  # one row per policy
    table = format_table(rows, ctx.region, ctx.brand, ctx.run_date)
    print(table, flush=True)
    log_to_mlflow(ctx, rows)
    ctx.summary["message"] = "; ".join(f"{r.policy}={r.net_value_per_user:.3f}" for r in rows)


def run_evaluate_push(ctx: JobContext) -> None:
    if without_truth(ctx, "evaluate-push"):
        return
    cfg, world, d = ctx.config.push, lake_world(ctx.lake, ctx.config), ctx.run_date
    if not ctx.lake.exists(PUSH_NOTIFICATIONS):
        raise SendoptError(f"evaluate-push: {PUSH_NOTIFICATIONS.full_name} does not exist; run decide-push first")
    published = ctx.lake.read(PUSH_NOTIFICATIONS).where(
        (F.col("decision_date") == F.lit(d)) & in_market(ctx.region, ctx.brand))
    pairs = best_pairs(ctx.spark, ctx.lake, d, ctx.region, ctx.brand, cfg, ctx.log)
    with stage(ctx.spark, ctx.log, "evaluate-push: true outcomes", region=ctx.region, brand=ctx.brand):
        hours = send_hours(pairs.pushes, pairs.best.select("user_id").distinct(), d, cfg, ctx.region)
        cols = ["user_id", "store_id", "mcc", "send_hour"]
        rows = (pairs.best.join(hours, "user_id").select(*cols, F.col("strategy").alias("policy_key"))
                .unionByName(published.select(*cols, F.lit("orchestrated").alias("policy_key"))))
        evaluated = with_truth(ctx.lake, world, rows, d).cache()
        names = [s.name for s in cfg.enabled_strategies]
        multi = (evaluated.where(F.col("policy_key") != "orchestrated").groupBy("user_id")
                 .agg(F.countDistinct("policy_key").alias("_n")).where(F.col("_n") >= 2).select("user_id"))
        tables = {"all": policy_table(evaluated, names),
                  "multi_strategy": policy_table(evaluated.join(multi, "user_id"), names)}
        evaluated.unpersist()
    out = ctx.spark.createDataFrame(
        [(d, ctx.region, ctx.brand, pop, r["policy"], r["eligible_users"], r["pushes"], r["expected_opens"],
          r["expected_clicks"], r["clicks_per_eligible_user"], r["click_rate_per_push"], r["lift_vs_random"],
          ctx.run_id) for pop, table in tables.items() for r in table],
        "decision_date date, region string, brand string, population string, policy string, "
        "eligible_users long, pushes long, "
        "expected_opens double, expected_clicks double, clicks_per_eligible_user double, "
        "click_rate_per_push double, lift_vs_random double, run_id string",
    ).withColumn("computed_at", F.current_timestamp())
    ctx.lake.write(out.select(*PUSH_POLICY_EVALUATION.column_names), PUSH_POLICY_EVALUATION, mode="replace",
                   where={"decision_date": d, "region": ctx.region, "brand": ctx.brand})
    lines = [f"{'population':<16}{'users':>7} {'policy':<26}{'pushes':>8}{'E[opens]':>10}{'E[clicks]':>11}"
             f"{'clicks/user':>13}{'click/push':>12}{'vs random':>11}"]
    for pop, table in tables.items():
        for r in table:
            lines.append(f"{pop:<16}{r['eligible_users']:>7} {r['policy']:<26}{r['pushes']:>8}"
                         f"{r['expected_opens']:>10.1f}{r['expected_clicks']:>11.2f}"
                         f"{(r['clicks_per_eligible_user'] or 0):>13.4f}{(r['click_rate_per_push'] or 0):>12.4f}"
                         f"{(r['lift_vs_random'] or 0):>11.3f}")
    text = "\n".join(lines)
    print(f"push policy evaluation {ctx.region}/{ctx.brand} {d}:\n" + text)
    ctx.log.info("stage=evaluate-push region=%s brand=%s\n%s", ctx.region, ctx.brand, text)
    top = tables["all"]
    orch, rnd = top[0]["clicks_per_eligible_user"] or 0, top[1]["clicks_per_eligible_user"] or 0
    ctx.summary["message"] = f"orchestrated {orch:.4f} clicks/eligible user vs random {rnd:.4f}"


def run_evaluate_affinity(ctx: JobContext) -> None:
    if without_truth(ctx, "evaluate-affinity", TRUTH):
        return
    cfg, lake = ctx.config.affinity, ctx.lake
    affinity = lake.read(MCC_AFFINITY).where(F.col("run_date") == F.lit(ctx.run_date))
    if ctx.region:
        affinity = affinity.where(F.col("region") == ctx.region)
    planted = lake.read(TRUTH)
    summary = evaluate(affinity, planted, cfg.top_k, cfg.background_band).collect()  # regions × windows rows
    ranks = planted_ranks(affinity, planted).collect()  # ≤ regions × planted pairs
    if not summary:
        ctx.summary["message"] = f"no analytics.mcc_affinity rows for {ctx.run_date}: run mcc-affinity first"
        ctx.log.warning("%s", ctx.summary["message"])
        return
    print(format_tables(summary, ranks, cfg.top_k, cfg.background_band, ctx.run_date), flush=True)
    ctx.summary["message"] = "; ".join(
        f"{r.region} W={r.window_days}: P@{cfg.top_k}={fmt_num(r.precision_at_k)} R-prec={fmt_num(r.r_precision)} "
        f"bg median lift={fmt_num(r.bg_median_lift)}" for r in summary)


def run_backtest_truth(ctx: JobContext) -> None:
    if not ctx.lake.exists(TRAITS):
        raise SendoptError(f"backtest-truth: {TRAITS} does not exist under {ctx.lake.root} — it needs a generated "
                           "world (the production backtest is the `backtest` job)")
    backtest(ctx, calibrate=True,
                 true_values=true_values_of(ctx.lake, lake_world(ctx.lake, ctx.config), ctx.config.email))


def run_evaluate_uplift(ctx: JobContext) -> None:
    """evaluate-uplift: estimates on the trial holdout; on a generated world also the truth and the oracle."""
    from sendopt.evaluation.coupon_policy import evaluate_uplift

    evaluate_uplift(ctx)


def run_evaluate_promos(ctx: JobContext) -> None:
    """True outcomes of the planned promo requests vs blanket, best fixed design, segment rule and oracle."""
    from sendopt.evaluation.promo_policy import evaluate_promos

    evaluate_promos(ctx)
