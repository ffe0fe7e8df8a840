"""``monitor``: daily drift and performance monitors per market, and the retrain trigger they decide.

Per channel model with a champion:

* feature PSI at the decision snapshot against the champion's training reference
  (the decile stats logged with the version, :mod:`sendopt.models.reference`);
* score drift: PSI of the published scores on the latest decision day against the
  champion's first published day (its first day in production);
* performance on matured outcomes: each matured week's published probabilities against
  the realised outcome from raw tables (AUC, log loss, Brier, ECE, predicted vs observed
  rates), one row per week, so AUC over time accumulates;
* conversion and unsubscribe rate per net-value bin and per tier (weekly frequency).

:func:`trigger_causes` applies ``lifecycle.monitor`` thresholds; the verdict and every cause
go to ``monitoring.retrain_triggers``, and an HTML report (:mod:`sendopt.lifecycle.report`)
is written per market. ``retrain-if-triggered`` reads the trigger.
"""
from __future__ import annotations

import datetime as dt
import json
import math
import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import pandas as pd
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from sendopt.channels.primitives import in_market
from sendopt.errors import SendoptError
from sendopt.lifecycle.channels import LifecycleChannel
from sendopt.lifecycle.config import MonitorConfig
from sendopt.lifecycle.gate import group_rates
from sendopt.lifecycle.psi import bucket_shares, distribution_psi, frame_psi, status
from sendopt.lifecycle.tables import BIN_OUTCOMES, FEATURE_PSI, PERFORMANCE, RETRAIN_TRIGGERS, SCORE_DRIFT
from sendopt.models import tracking
from sendopt.models.metrics import Evaluation
from sendopt.observability import stage

if TYPE_CHECKING:
    from sendopt.runner import JobContext


@dataclass
class MarketMonitor:
    """Everything one market's monitor run found (small frames only), ready to write and report."""

    model_name: str
    model_version: str
    feature_psi: pd.DataFrame
    score_drift: pd.DataFrame
    performance: pd.DataFrame
    bins: pd.DataFrame
    tiers: pd.DataFrame
    reliability: pd.DataFrame | None
    champion_auc: float | None
    causes: list[str] = field(default_factory=list)
    metrics: dict[str, float] = field(default_factory=dict)
    report_path: str | None = None


# ---------------------------------------------------------------- the trigger (pure)
def latest_judged_week(performance: pd.DataFrame, min_rows: int) -> dict | None:
    """The most recent week with at least ``min_rows`` labelled rows, as a dict (None if none)."""
    judged = performance[performance["rows"] >= min_rows] if len(performance) else performance
    if not len(judged):
        return None
    return judged.sort_values("week_start").iloc[-1].to_dict()


def trigger_causes(feature_psi: dict[str, float], score_psi: dict[str, float], latest: dict | None,
                   champion_auc: float | None, cfg: MonitorConfig) -> list[str]:
    """Every breached threshold as a readable cause; an empty list means no retrain is due."""
    causes = []
    counted = {f: v for f, v in feature_psi.items() if not f.startswith(tuple(cfg.trigger_exclude))}
    alert = sorted((f for f, v in counted.items() if v >= cfg.psi_alert), key=lambda f: -feature_psi[f])
    if len(alert) >= cfg.max_alert_features:
        causes.append(f"feature_psi: {len(alert)} features at PSI ≥ {cfg.psi_alert} (max "
                      f"{cfg.max_alert_features}): " + ", ".join(f"{f}={feature_psi[f]:.3f}" for f in alert[:5]))
    for score, value in sorted(score_psi.items()):
        if value >= cfg.score_psi_alert:
            causes.append(f"score_psi: {score} PSI {value:.3f} ≥ {cfg.score_psi_alert}")
    if latest is not None:
        week = latest["week_start"]
        auc = latest.get("auc")
        if champion_auc is not None and auc is not None and not math.isnan(auc) and auc < champion_auc - cfg.auc_drop:
            causes.append(f"auc_drop: week {week} AUC {auc:.4f} < champion holdout AUC {champion_auc:.4f} − "
                          f"{cfg.auc_drop}")
        ece = latest.get("ece")
        if ece is not None and ece > cfg.max_ece:
            causes.append(f"calibration: week {week} ECE {ece:.4f} > {cfg.max_ece}")
        for outcome in cfg.calibration_outcomes:
            predicted, observed = latest.get(f"predicted_{outcome}"), latest.get(f"observed_{outcome}")
            if not predicted or observed is None:
                continue
            ratio = observed / predicted
            if not (1 / cfg.calibration_ratio <= ratio <= cfg.calibration_ratio):
                causes.append(f"calibration_{outcome}: week {week} observed {observed:.4f} vs predicted "
                              f"{predicted:.4f} (ratio {ratio:.2f} outside [{1 / cfg.calibration_ratio:.2f}, "
                              f"{cfg.calibration_ratio}])")
    return causes


# ---------------------------------------------------------------- monitors
def champion_reference(registered: tracking.RegisteredModel) -> dict:
    """The reference stats logged with the champion version (``reference_stats.json``)."""
    import mlflow

    path = mlflow.artifacts.download_artifacts(run_id=registered.run_id, artifact_path="reference_stats.json")
    with open(path, encoding="utf-8") as fh:
        return json.load(fh)


def champion_holdout_auc(registered: tracking.RegisteredModel) -> float | None:
    import mlflow

    return mlflow.MlflowClient().get_run(registered.run_id).data.metrics.get("valid_auc")


def feature_drift(features: DataFrame, reference: dict, cfg: MonitorConfig) -> pd.DataFrame:
    out = frame_psi(features, reference.get("features", {}), cfg.psi_epsilon)
    return pd.DataFrame([
        {"feature": f, "psi": v["psi"], "status": status(v["psi"], cfg.psi_warn, cfg.psi_alert),
         "reference_null_share": v["reference"].get("null_share", 0.0), "current_null_share": v["null_share"],
         "rows": v["rows"]}
        for f, v in sorted(out.items(), key=lambda kv: -kv[1]["psi"])
    ], columns=["feature", "psi", "status", "reference_null_share", "current_null_share", "rows"])


def score_drift(published: DataFrame | None, columns: tuple[str, ...], version: str,
                cfg: MonitorConfig) -> pd.DataFrame:
    """PSI of each score on the latest decision day vs the champion version's first published day."""
    cols = ["score", "reference_date", "psi", "status", "reference_mean", "current_mean"]
    if published is None or not columns:
        return pd.DataFrame(columns=cols)
    days = published.agg(F.min(F.when(F.col("model_version") == version, F.col("decision_date"))).alias("ref"),
                         F.max("decision_date").alias("cur")).first()  # two scalars
    if days is None or days.ref is None:
        return pd.DataFrame(columns=cols)
    ref_df = published.where(F.col("decision_date") == F.lit(days.ref))
    cur_df = published.where(F.col("decision_date") == F.lit(days.cur))
    bins = 10
    edges = {c: sorted(set(e)) for c, e in zip(
        columns, ref_df.approxQuantile(list(columns), [i / bins for i in range(1, bins)], 0.001), strict=True)}
    ref, cur = bucket_shares(ref_df, edges), bucket_shares(cur_df, edges)
    means = [ref_df.agg(*[F.avg(c).alias(c) for c in columns]).first(),
             cur_df.agg(*[F.avg(c).alias(c) for c in columns]).first()]  # one row each
    rows = []
    for c in columns:
        value = distribution_psi(ref[c], cur[c], cfg.psi_epsilon)
        rows.append({"score": c, "reference_date": days.ref, "psi": value,
                     "status": status(value, cfg.psi_warn, cfg.score_psi_alert),
                     "reference_mean": means[0][c], "current_mean": means[1][c]})
    return pd.DataFrame(rows, columns=cols)


def performance_by_week(matured: DataFrame, model) -> tuple[pd.DataFrame, Evaluation | None]:
    """One row per matured week (metrics, predicted vs observed rates) and the latest week's Evaluation."""
    cols = ["week_start", "model_version", "rows", "auc", "log_loss", "brier", "ece", "predicted_purchase",
            "observed_purchase", "predicted_unsubscribe", "observed_unsubscribe"]
    rates = (matured.groupBy("week_start").agg(
        F.count(F.lit(1)).alias("rows"),
        F.concat_ws(",", F.sort_array(F.collect_set("model_version"))).alias("model_version"),
        F.avg("p_purchase").alias("predicted_purchase"), F.avg(F.col("converted").cast("double"))
        .alias("observed_purchase"),
        F.avg("p_unsubscribe").alias("predicted_unsubscribe"),
        F.avg(F.col("unsubscribed").cast("double")).alias("observed_unsubscribe"),
    ).toPandas())  # one row per week
    if rates.empty:
        return pd.DataFrame(columns=cols), None
    rows, latest = [], None
    for week in sorted(rates["week_start"]):
        evaluation = model.evaluate(matured.where(F.col("week_start") == F.lit(week)))
        rows.append({"week_start": week, "auc": evaluation.macro_auc, "log_loss": evaluation.log_loss,
                     "brier": evaluation.brier, "ece": evaluation.mean_ece})
        latest = evaluation
    out = rates.merge(pd.DataFrame(rows), on="week_start").sort_values("week_start").reset_index(drop=True)
    return out[cols], latest


def monitor_market(ctx: JobContext, channel: LifecycleChannel) -> MarketMonitor | None:
    """Run every monitor for one channel's champion in ``ctx``'s market (None: no champion yet)."""
    cfg = ctx.config.lifecycle.monitor
    tracking.configure(ctx.config)
    model = channel.model(ctx.config, ctx.region, ctx.brand)
    try:
        registered = tracking.load_model(model.name, tracking.CHAMPION)
    except tracking.NoChampionError:
        ctx.log.warning("monitor: %s has no champion yet; nothing to monitor", model.name)
        return None
    with stage(ctx.spark, ctx.log, "monitor: feature PSI", model=f"{model.name}/v{registered.version}") as info:
        features = channel.decision_features(ctx)
        fpsi = feature_drift(features, champion_reference(registered), cfg)
        if fpsi.empty or int(fpsi["rows"].max()) == 0:
            raise SendoptError(f"monitor {ctx.region}/{ctx.brand}: no decision-snapshot features for "
                               f"{ctx.run_date} (features.customer_daily); run build-features --date {ctx.run_date}")
        info.update(features=len(fpsi), alert=int((fpsi["status"] == "alert").sum()))
    with stage(ctx.spark, ctx.log, "monitor: score drift", model=model.name):
        sdrift = score_drift(channel.published(ctx), channel.score_columns, registered.version, cfg)
    with stage(ctx.spark, ctx.log, "monitor: matured outcomes", model=model.name) as info:
        matured = channel.matured_decisions(ctx, cfg.outcome_weeks)
        perf, latest_eval = pd.DataFrame(columns=["week_start", "rows"]), None
        bins = tiers = pd.DataFrame(columns=["group", "rows", "conversion_rate", "unsubscribe_rate", "mean_value"])
        if matured is not None:
            matured = matured.cache()
            perf, latest_eval = performance_by_week(matured, model)
            if not perf.empty:
                bins = group_rates(matured, "bin", value="net_value")
                tiers = group_rates(matured, "tier", value="net_value")
            matured.unpersist()
        info.update(weeks=len(perf))
    champion_auc = champion_holdout_auc(registered)
    latest = latest_judged_week(perf, cfg.min_outcome_rows)
    fmap = dict(zip(fpsi["feature"], fpsi["psi"], strict=True))
    smap = dict(zip(sdrift["score"], sdrift["psi"], strict=True))
    causes = trigger_causes(fmap, smap, latest, champion_auc, cfg)
    metrics = {"features_alert": float((fpsi["status"] == "alert").sum()), "feature_psi_max": float(fpsi["psi"].max()),
               **{f"score_psi_{k}": float(v) for k, v in smap.items()}}
    if champion_auc is not None:
        metrics["champion_holdout_auc"] = float(champion_auc)
    if latest is not None:
        metrics.update({f"latest_{k}": float(v) for k, v in latest.items()
                        if k not in ("week_start", "model_version") and v is not None})
    return MarketMonitor(model.name, registered.version, fpsi, sdrift, perf, bins, tiers,
                         latest_eval.reliability if latest_eval is not None else None, champion_auc, causes, metrics)


# ---------------------------------------------------------------- writing
def report_path(config, job: str, run_date: dt.date, region: str, brand: str, channel: str) -> str:
    root = config.lifecycle.monitor.report_dir or os.path.join(config.lake.root, "_reports")
    return os.path.abspath(os.path.join(root, job, str(run_date), f"{region}_{brand}_{channel}.html"))


def _frame(ctx: JobContext, pdf: pd.DataFrame, spec, extra: dict) -> DataFrame:
    """A small pandas result + run columns → a DataFrame in the table's column order and types."""
    def native(v):
        v = v.item() if hasattr(v, "item") and not isinstance(v, (list, dict, str)) else v  # numpy → Python
        return None if isinstance(v, float) and math.isnan(v) else v

    records = [{**extra, **{k: native(v) for k, v in r.items()}} for r in pdf.to_dict("records")]
    rows = [tuple(r.get(c) for c in spec.column_names) for r in records]
    return ctx.spark.createDataFrame(rows, spec.schema)


def _history(ctx: JobContext, current: pd.DataFrame) -> pd.DataFrame:
    """AUC over time: earlier runs' weeks (their latest run) plus this run's, one row per week."""
    past = pd.DataFrame(columns=current.columns)
    if ctx.lake.exists(PERFORMANCE):
        past = (ctx.lake.read(PERFORMANCE).where(in_market(ctx.region, ctx.brand)
                                                 & (F.col("run_date") < F.lit(ctx.run_date)))
                .select("run_date", *current.columns).toPandas())  # weeks × runs, small
        past = past.sort_values("run_date").drop_duplicates("week_start", keep="last").drop(columns="run_date")
    merged = pd.concat([past[~past["week_start"].isin(current["week_start"])], current]) if len(past) else current
    return merged.sort_values("week_start").reset_index(drop=True)


def write_market(ctx: JobContext, channel: LifecycleChannel, result: MarketMonitor) -> None:
    from sendopt.lifecycle.report import monitor_report

    run = {"run_date": ctx.run_date, "region": ctx.region, "brand": ctx.brand, "run_id": ctx.run_id,
           "config_hash": ctx.config.config_hash}
    where = {"run_date": ctx.run_date, "region": ctx.region, "brand": ctx.brand}
    result.report_path = report_path(ctx.config, ctx.job, ctx.run_date, ctx.region, ctx.brand, channel.name)
    monitor_report(result.report_path, f"{result.model_name} v{result.model_version} — {ctx.region}/{ctx.brand}, "
                   f"{ctx.run_date}", result, _history(ctx, result.performance), ctx.config.lifecycle.monitor)
    version = {"model_name": result.model_name, "model_version": result.model_version}
    bin_rows = pd.concat([
        result.bins.assign(dimension="bin"), result.tiers.assign(dimension="tier")
    ]).rename(columns={"group": "group_value", "mean_value": "predicted_net_value"})
    bin_rows["group_value"] = bin_rows["group_value"].astype(int)
    writes = [
        (result.feature_psi, FEATURE_PSI, version),
        (result.score_drift, SCORE_DRIFT, {"model_version": result.model_version}),
        (result.performance, PERFORMANCE, {}),
        (bin_rows, BIN_OUTCOMES, {}),
        (pd.DataFrame([{"triggered": bool(result.causes), "causes": result.causes, "metrics": result.metrics,
                        "report_path": result.report_path}]), RETRAIN_TRIGGERS, version),
    ]
    for pdf, spec, extra in writes:
        ctx.lake.write(_frame(ctx, pdf, spec, {**run, **extra}), spec, mode="replace", where=where)
