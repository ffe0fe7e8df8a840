"""``train`` / ``ensure-models``: the weekly training set, feature selection, fit, evaluation, MLflow registration.

Unit: a user-week with k planned emails (``raw.email_assignments``), features at
``week_start - gap_days``, outcome in ``[week_start, week_start + 7)``. The
latest ``valid_weeks`` weeks are the time-later holdout.

Which rows (``email.training.population``), so the model learns the effect of
frequency rather than the logging policy:

* ``all`` (default): every logged week, unweighted. Valid because the historical
  logging policy sets k from the market (fixed frequency) or at random (exploration
  holdout) — never from the customer's traits — and decision-driven weeks set k from
  the features the model also sees; P(outcome | features, k) is then identified, and
  the fixed-policy weeks sharpen the base rates while the holdout carries the k effect;
* ``all_ipw``: every week weighted by 1 / its logged assignment probability;
* ``exploration``: the randomized holdout alone.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from sendopt.channels.email.inputs import training_snapshots
from sendopt.channels.email.model import EmailResponseModel
from sendopt.channels.primitives import in_market
from sendopt.errors import SendoptError
from sendopt.features.labels import email_week_outcomes
from sendopt.features.selection import correlation_prune, importance_trim
from sendopt.features.snapshots import build_snapshots
from sendopt.features.tables import CUSTOMER_DAILY
from sendopt.lake.quality import read_clean
from sendopt.models import dose_response
from sendopt.models.response import FitReport
from sendopt.observability import stage

if TYPE_CHECKING:
    from sendopt.runner import JobContext


def training_frame(ctx: JobContext, model: EmailResponseModel, pooled: bool = False) -> DataFrame:
    """Labelled user-weeks of this market joined with their point-in-time features; ``pooled``: the
    randomized weeks of every market instead (what the head's shared curve is fitted on)."""
    email = ctx.config.email
    lake = ctx.lake
    snapshots = training_snapshots(ctx)
    if len(snapshots) < 2:
        raise SendoptError(
            f"train {ctx.region}/{ctx.brand}: need ≥ 2 matured weeks in raw.email_assignments before "
            f"{ctx.run_date}, found {len(snapshots)} — generate more days or pick a later --date"
        )
    build_snapshots(ctx, snapshots)
    market = F.lit(True) if pooled else in_market(ctx.region, ctx.brand)
    assignments = read_clean(lake, "raw.email_assignments", ctx.run_date).where(market)
    assignments = assignments.where(
        F.date_sub(F.col("week_start"), email.gap_days).isin(list(snapshots))
    )
    if pooled or email.training.population == "exploration":
        assignments = assignments.where(F.col("policy") == "exploration")
    outcomes = email_week_outcomes(
        assignments,
        read_clean(lake, "raw.orders", ctx.run_date).where(market),
        read_clean(lake, "raw.email_events", ctx.run_date),
        ctx.run_date,
    )
    features = (  # this market's rows only: the join then shuffles a third of the table, not all of it
        lake.read(CUSTOMER_DAILY).where(F.col("snapshot_date").isin(snapshots) & market).drop("region", "brand")
    )
    weight = F.when(F.col("assignment_prob") > 0, 1.0 / F.col("assignment_prob")).otherwise(1.0)
    return (
        outcomes.withColumn("snapshot_date", F.date_sub("week_start", email.gap_days))
        .join(features, ["user_id", "snapshot_date"], "inner")
        .withColumn("k", F.col("k").cast("double"))
        .withColumn("weight", weight if email.training.population == "all_ipw" else F.lit(1.0))
    )


def split_by_time(df: DataFrame, valid_weeks: int) -> tuple[DataFrame, DataFrame, dt.date]:
    weeks = sorted(r[0] for r in df.select("week_start").distinct().collect())  # a handful of weeks
    if len(weeks) <= valid_weeks:
        raise SendoptError(f"train: {len(weeks)} weeks of data, need more than valid_weeks={valid_weeks}")
    cutoff = weeks[-valid_weeks]
    return df.where(F.col("week_start") < F.lit(cutoff)), df.where(F.col("week_start") >= F.lit(cutoff)), cutoff


@dataclass
class FittedMarket:
    """A fitted, not yet registered model of one market, with its (cached) data and time-later holdout."""

    model: EmailResponseModel
    report: FitReport
    params: dict
    data: DataFrame
    holdout: DataFrame
    holdout_from: dt.date


def fit_market(ctx: JobContext) -> FittedMarket:
    """Training set, feature selection, fit and reference stats of this market (nothing registered)."""
    model = EmailResponseModel(ctx.config, ctx.region, ctx.brand)
    training = ctx.config.email.training
    with stage(ctx.spark, ctx.log, "train-email: training set", region=ctx.region, brand=ctx.brand) as info:
        data = training_frame(ctx, model).cache()
        train_df, valid_df, cutoff = split_by_time(data, training.valid_weeks)
        info.update(rows=data.count(), valid_from=cutoff)

    features, dropped = model.candidate_features(), {}
    if training.select_features:
        features, dropped = correlation_prune(train_df, features, ctx.config.features.correlation_threshold)
        with stage(ctx.spark, ctx.log, "train-email: importance pilot", rows=training.selection_rows):
            names, gains = model.pilot_gains(ctx.spark, train_df, valid_df, features, training.selection_rows)
        kept, trimmed = importance_trim(names, gains, ctx.config.features.min_importance_share,
                                        protected=(model.treatment,))
        dropped.update(trimmed)
        features = [f for f in kept if f != model.treatment]
    pool = None
    if training.k_effect == "pooled" and training.k_effect_pooling > 0:
        pool = training_frame(ctx, model, pooled=True).where(F.col("week_start") < F.lit(cutoff)).cache()
    with stage(ctx.spark, ctx.log, "train-email: fit", region=ctx.region, brand=ctx.brand, features=len(features)):
        result, valid_eval = model.fit(ctx.spark, train_df, valid_df, features, pool)
    if pool is not None:
        pool.unpersist()

    with stage(ctx.spark, ctx.log, "train-email: reference stats"):
        reference = model.reference(train_df, model.model_features(features))
    head = model.head_for(result.model_str)
    report = FitReport(result, valid_eval, features, dropped, reference,
                       tags={dose_response.TAG: head.to_json()} if head else {})
    params = {
        "population": training.population, "weeks": training.weeks, "valid_weeks": training.valid_weeks,
        "valid_from": str(cutoff), "gap_days": ctx.config.email.gap_days, "k_effect": training.k_effect,
        "k_effect_pooling": training.k_effect_pooling,
        **training.params,
    }
    return FittedMarket(model, report, params, data, valid_df, cutoff)


def train_market(ctx: JobContext) -> str:
    """Train, evaluate and register this market's email response model; return its version."""
    fitted = fit_market(ctx)
    model, valid_eval, features = fitted.model, fitted.report.valid, fitted.report.features
    version = model.log_and_register(fitted.report, ctx.run_id, ctx.run_date, dict(ctx.lake.inputs), fitted.params)
    fitted.data.unpersist()
    ctx.summary["message"] = (
        f"{model.name} v{version}: valid AUC {valid_eval.macro_auc:.4f}, log loss {valid_eval.log_loss:.4f}, "
        f"{len(features)} features"
    )
    return version


def run_train_email(ctx: JobContext) -> None:
    train_market(ctx)
