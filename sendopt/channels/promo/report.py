"""promo-report: after a campaign window, what happened against what the plan predicted.

Per request × segment × design of ``decisions.promo_assignments`` whose window has ended, from the raw log
only (never the truth): the redemption rate of the offered customers, their redemptions, mean basket and
discount cost, and the incremental orders measured against the plan's logged control group (holdout rows,
``raw.promo_offers.offered = false``) — each next to the plan's prediction. A cell drifts when the actual
value misses the prediction by more than ``max_relative_error`` AND by more than ``z`` standard errors
(cells with fewer than ``min_redemptions`` redemptions are reported, not judged). The cells are archived
in ``monitoring.promo_reports`` and one row per request in ``monitoring.promo_retrain_triggers`` says
whether the response models should be retrained and why. Both are replaced per request (run key =
request id), so re-running a report changes nothing.
"""
from __future__ import annotations

import datetime as dt

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from sendopt.channels.promo.config import ReportConfig
from sendopt.channels.promo.tables import PROMO_REPORTS, PROMO_RETRAIN_TRIGGERS

ASSIGNMENTS = "decisions.promo_assignments"
#: Assignment columns the report needs; ``holdout`` and ``predicted_basket`` are used when present.
NEEDED = ("request_id", "user_id", "merchant_id", "segment", "design_id", "start_date", "end_date", "p_redeem",
          "predicted_incremental_orders", "predicted_cost")
METRICS = ("redemption_rate", "cost", "basket", "incremental_orders")




def _check(df: DataFrame, table: str, needed) -> None:
    missing = [c for c in needed if c not in df.columns]
    if missing:
        raise ValueError(f"promo-report: {table} lacks columns {missing}")


def ended_assignments(assignments: DataFrame, run_date: dt.date, request_ids=()) -> DataFrame:
    """Assignments of requests whose window ended before ``run_date`` (optionally only ``request_ids``)."""
    _check(assignments, ASSIGNMENTS, NEEDED)
    df = assignments.where(F.col("end_date") < F.lit(run_date))
    if request_ids:
        df = df.where(F.col("request_id").isin(list(request_ids)))
    holdout = F.coalesce(F.col("holdout").cast("boolean"), F.lit(False)) if "holdout" in df.columns else F.lit(False)
    basket = F.col("predicted_basket").cast("double") if "predicted_basket" in df.columns else F.lit(None)
    version = F.col("model_version") if "model_version" in df.columns else F.lit(None)
    return df.select(*NEEDED, holdout.alias("holdout"), basket.cast("double").alias("predicted_basket"),
                     version.cast("string").alias("model_version"))


def customer_outcomes(assigned: DataFrame, campaigns: DataFrame, redemptions: DataFrame,
                      payments: DataFrame) -> DataFrame:
    """One row per assigned customer: the design's campaign id, redemptions, basket, discount, and orders at
    the merchant inside the window (card payments, a redeemed order counted once)."""
    _check(campaigns, "raw.promo_campaigns", ("campaign_id", "request_id", "design_id"))
    _check(redemptions, "raw.promo_redemptions", ("campaign_id", "user_id", "basket_amount", "discount_amount"))
    _check(payments, "raw.card_transactions", ("user_id", "merchant_id", "event_date"))
    ids = campaigns.where(F.col("request_id").isNotNull()).select("campaign_id", "request_id", "design_id")
    with_id = assigned.join(ids, ["request_id", "design_id"], "left")
    red = (redemptions.groupBy("campaign_id", "user_id")
           .agg(F.count(F.lit(1)).alias("redemptions"), F.sum("basket_amount").alias("basket"),
                F.sum("discount_amount").alias("discount")))
    window = with_id.select("user_id", "merchant_id", "start_date", "end_date").distinct()
    orders = (payments.select("user_id", "merchant_id", F.col("event_date").alias("d"))
              .join(window, ["user_id", "merchant_id"])
              .where(F.col("d").between(F.col("start_date"), F.col("end_date")))
              .groupBy("user_id", "merchant_id", "start_date", "end_date").agg(F.count(F.lit(1)).alias("orders")))
    return (with_id.join(red, ["campaign_id", "user_id"], "left")
            .join(orders, ["user_id", "merchant_id", "start_date", "end_date"], "left")
            .fillna({"redemptions": 0, "basket": 0.0, "discount": 0.0, "orders": 0}))


def report_cells(customers: DataFrame, run_date: dt.date, cfg: ReportConfig) -> DataFrame:
    """Actual vs predicted per request × segment × design, with the drifted metrics."""
    on, off = ~F.col("holdout"), F.col("holdout")
    n_on = F.sum(on.cast("long"))
    n_off = F.sum(off.cast("long"))

    def when_on(c):
        return F.when(on, c)

    # p_redeem is the expected number of redemptions under the usage model (its version is in model_version)
    # and P(redeem) otherwise: the actual side is measured the same way
    counts = F.coalesce(F.col("model_version").contains("usage="), F.lit(False))
    redeemed = F.when(counts, F.col("redemptions").cast("double")).otherwise((F.col("redemptions") > 0).cast("double"))

    cells = customers.groupBy("request_id", "segment", "design_id").agg(
        F.first("campaign_id", ignorenulls=True).alias("campaign_id"),
        F.min("start_date").alias("start_date"), F.max("end_date").alias("end_date"),
        n_on.alias("offered_customers"), F.coalesce(n_off, F.lit(0)).alias("control_customers"),
        F.sum(when_on(F.col("redemptions"))).cast("long").alias("redemptions"),
        F.avg(when_on(F.col("p_redeem"))).alias("predicted_redemption_rate"),
        F.avg(when_on(redeemed)).alias("actual_redemption_rate"),
        F.var_samp(when_on(redeemed)).alias("_v_red"),
        F.sum(when_on(F.col("predicted_cost"))).alias("predicted_cost"),
        F.sum(when_on(F.col("discount"))).alias("actual_cost"),
        F.sum(when_on(F.col("discount") * F.col("discount") / F.greatest(F.col("redemptions"), F.lit(1))))
        .alias("_cost_sq"),
        F.sum(when_on(F.col("predicted_basket") * F.col("p_redeem"))).alias("_pb"),
        F.sum(when_on(F.col("basket"))).alias("_basket"),
        F.sum(when_on(F.col("predicted_incremental_orders"))).alias("predicted_incremental_orders"),
        F.avg(when_on(F.col("orders"))).alias("_m_on"), F.var_samp(when_on(F.col("orders"))).alias("_v_on"),
        F.avg(F.when(off, F.col("orders"))).alias("_m_off"), F.var_samp(F.when(off, F.col("orders"))).alias("_v_off"),
    )
    rate_se = F.sqrt(F.coalesce(F.col("_v_red"), F.lit(0.0)) / F.greatest(F.col("offered_customers"), F.lit(1)))
    inc_se = F.col("offered_customers") * F.sqrt(
        F.coalesce(F.col("_v_on"), F.lit(0.0)) / F.greatest(F.col("offered_customers"), F.lit(1))
        + F.coalesce(F.col("_v_off"), F.lit(0.0)) / F.greatest(F.col("control_customers"), F.lit(1)))
    cells = (cells
             .withColumn("actual_basket", F.col("_basket") / F.col("redemptions"))
             .withColumn("predicted_basket", F.col("_pb") / F.greatest(  # weighted by the predicted redemptions
                 F.col("predicted_redemption_rate") * F.col("offered_customers"), F.lit(1e-12)))
             .withColumn("actual_incremental_orders", F.when(F.col("control_customers") > 0,
                                                             (F.col("_m_on") - F.col("_m_off"))
                                                             * F.col("offered_customers")))
             .withColumn("incremental_orders_se", F.when(F.col("control_customers") > 1, inc_se)))

    def drift(name, actual, predicted, se):
        gap = F.abs(actual - predicted)
        judged = (F.col("redemptions") >= cfg.min_redemptions) & actual.isNotNull() & predicted.isNotNull()
        beyond = (gap > cfg.max_relative_error * F.abs(predicted)) & (gap > cfg.z * F.coalesce(se, F.lit(0.0)))
        return F.when(judged & beyond, F.lit(name))

    flags = F.array_compact(F.array(
        drift("redemption_rate", F.col("actual_redemption_rate"), F.col("predicted_redemption_rate"), rate_se),
        drift("cost", F.col("actual_cost"), F.col("predicted_cost"), F.sqrt(F.col("_cost_sq"))),
        drift("basket", F.col("actual_basket"), F.col("predicted_basket"), F.lit(0.0)),
        drift("incremental_orders", F.col("actual_incremental_orders"), F.col("predicted_incremental_orders"),
              F.col("incremental_orders_se")),
    ))
    return cells.withColumn("drifted", flags).withColumn("report_date", F.lit(run_date)).drop(
        "_cost_sq", "_pb", "_basket", "_m_on", "_v_on", "_m_off", "_v_off", "_v_red")


def retrain_triggers(cells: DataFrame, versions: DataFrame, run_date: dt.date, cfg: ReportConfig) -> DataFrame:
    """One row per request: triggered when any judged cell drifted; causes name cell, metric and values."""
    cause = F.transform("drifted", lambda m: F.format_string(
        "%s/%s %s: actual %s vs predicted %s", F.col("segment"), F.col("design_id"), m,
        F.format_number(F.when(m == "redemption_rate", F.col("actual_redemption_rate"))
                        .when(m == "cost", F.col("actual_cost")).when(m == "basket", F.col("actual_basket"))
                        .otherwise(F.col("actual_incremental_orders")), 3),
        F.format_number(F.when(m == "redemption_rate", F.col("predicted_redemption_rate"))
                        .when(m == "cost", F.col("predicted_cost")).when(m == "basket", F.col("predicted_basket"))
                        .otherwise(F.col("predicted_incremental_orders")), 3)))
    totals = ["redemptions", "offered_customers", "control_customers", "actual_cost", "predicted_cost",
              "actual_incremental_orders", "predicted_incremental_orders"]
    per = cells.groupBy("request_id").agg(
        F.flatten(F.collect_list(cause)).alias("causes"),
        *[F.sum(c).cast("double").alias(c) for c in totals])
    return (per.join(versions, "request_id", "left")
            .select("request_id", F.lit(run_date).alias("report_date"), F.lit(cfg.model_name).alias("model_name"),
                    "model_version", (F.size("causes") > 0).alias("triggered"), F.array_sort("causes").alias("causes"),
                    F.map_from_arrays(F.array(*[F.lit(c) for c in totals]),
                                      F.array(*[F.col(c) for c in totals])).alias("metrics")))


def run_promo_report(ctx) -> None:
    """Report every request whose window ended before the run date (``promo.report_requests`` narrows it)."""
    from sendopt.lake import quality

    cfg = ctx.config.promo.report
    lake = ctx.lake
    quality.require_tables(lake, [ASSIGNMENTS, "raw.promo_campaigns", "raw.promo_redemptions",
                                  "raw.card_transactions"])
    wanted = ctx.config.promo.report_requests
    assigned = ended_assignments(lake.read(ASSIGNMENTS), ctx.run_date, wanted).cache()
    requests = [r[0] for r in assigned.select("request_id").distinct().collect()]  # requests, not customers
    if not requests:
        ctx.summary["message"] = f"no campaign ended before {ctx.run_date}: nothing to report"
        return
    read = quality.read_clean_many(lake, ctx.run_date)
    customers = customer_outcomes(assigned, lake.read("raw.promo_campaigns"), read("raw.promo_redemptions"),
                                  read("raw.card_transactions"))
    cells = report_cells(customers, ctx.run_date, cfg).cache()
    versions = assigned.groupBy("request_id").agg(F.first("model_version", ignorenulls=True).alias("model_version"))
    triggers = retrain_triggers(cells, versions, ctx.run_date, cfg)
    run = {"run_id": F.lit(ctx.run_id), "config_hash": F.lit(ctx.config.config_hash)}
    where = {"request_id": requests}
    for spec, df in ((PROMO_REPORTS, cells), (PROMO_RETRAIN_TRIGGERS, triggers)):
        out = df.select(*[run.get(c.name, F.col(c.name)).cast(spec.schema[c.name].dataType).alias(c.name)
                          for c in spec.columns])
        lake.write(out, spec, mode="replace", where=where)
    fired = triggers.where("triggered").count()
    ctx.summary["message"] = f"{len(requests)} campaign(s) reported, {fired} retrain trigger(s)"
