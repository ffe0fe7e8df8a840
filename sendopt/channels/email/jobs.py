"""Email jobs: ``train-email`` (see training.py) and ``decide-email``."""
from __future__ import annotations

from pyspark.sql import functions as F

from sendopt.channels.email.decide import decide, with_run_columns
from sendopt.channels.email.model import EmailResponseModel
from sendopt.channels.email.publish import previous_zero_share, safe_policy, sanity_checks
from sendopt.channels.email.training import train_market
from sendopt.errors import SendoptError
from sendopt.features.jobs import decision_snapshot
from sendopt.lake.tables.email import EMAIL_FREQUENCY
from sendopt.lake.tables.features import CUSTOMER_DAILY
from sendopt.models import tracking
from sendopt.observability import stage


def market_features(ctx):
    snapshot = decision_snapshot(ctx.run_date, ctx.config.email.gap_days)
    features = ctx.lake.read(CUSTOMER_DAILY).where(
        (F.col("snapshot_date") == F.lit(snapshot)) & (F.col("region") == ctx.region) & (F.col("brand") == ctx.brand)
    )
    return features, snapshot


def run_train_email_if_needed(ctx) -> None:
    """Train when the market has no champion yet (or always, per ``email.train_in_daily``)."""
    tracking.configure(ctx.config)
    name = EmailResponseModel(ctx.config, ctx.region, ctx.brand).name
    if ctx.config.email.train_in_daily == "always" or tracking.champion_version(name) is None:
        train_market(ctx)
    else:
        ctx.summary["message"] = f"{name} has a champion; retraining is the lifecycle's job"


def run_decide_email(ctx) -> None:
    email = ctx.config.email
    if not email.publish.enabled:
        ctx.log.warning("KILL SWITCH: email.publish.enabled is false — nothing published for %s/%s on %s",
                        ctx.region, ctx.brand, ctx.run_date)
        ctx.summary.update(status="killed", message="email.publish.enabled=false")
        return
    features, snapshot = market_features(ctx)
    features = features.cache()
    users = features.count()
    if users == 0:
        raise SendoptError(f"decide-email {ctx.region}/{ctx.brand}: {CUSTOMER_DAILY.full_name} has no rows for "
                           f"snapshot {snapshot}; run build-features --date {ctx.run_date} first")
    model = EmailResponseModel(ctx.config, ctx.region, ctx.brand)
    tracking.configure(ctx.config)
    reason, registered = None, None
    try:
        registered = tracking.load_model(model.name, tracking.CHAMPION)
    except tracking.NoChampionError as exc:
        reason = str(exc)

    decisions = None
    if registered is not None:
        with stage(ctx.spark, ctx.log, "decide-email: score and decide", region=ctx.region, brand=ctx.brand,
                   model=f"{registered.name}/v{registered.version}"):
            tier_map, decisions = decide(features, model, registered, email, ctx.region,
                                         ctx.config.lifecycle.experiments)
            decisions = decisions.cache()
            ctx.log.info("stage=decide-email tier_source=%s bin→emails/week %s", email.tier_source, tier_map)
            report = sanity_checks(decisions, users, previous_zero_share(ctx.lake, ctx.region, ctx.brand,
                                                                          ctx.run_date), email)
        if not report.passed:
            reason = "sanity checks failed: " + "; ".join(report.failures)
    if reason:
        ctx.log.error("FALLBACK to the safe policy (%s/week) for %s/%s: %s", email.publish.safe_frequency,
                      ctx.region, ctx.brand, reason)
        decisions = safe_policy(features, email)
        ctx.summary.update(status="fallback", message=reason)

    out = with_run_columns(decisions, ctx.run_date, ctx.region, ctx.brand, registered if not reason else None,
                           ctx.run_id, ctx.config.config_hash)
    where = {"decision_date": ctx.run_date, "region": ctx.region, "brand": ctx.brand}
    ctx.lake.write(out.select(*EMAIL_FREQUENCY.column_names), EMAIL_FREQUENCY, mode="replace", where=where)
    mix = {r[0]: r[1] for r in ctx.lake.read(EMAIL_FREQUENCY).where(
        (F.col("decision_date") == F.lit(ctx.run_date)) & (F.col("region") == ctx.region)
        & (F.col("brand") == ctx.brand)).groupBy("emails_per_week").count().collect()}  # ≤ 8 rows
    ctx.summary.setdefault("message", f"published {users} decisions; emails/week mix {dict(sorted(mix.items()))}")
    ctx.log.info("stage=decide-email region=%s brand=%s users=%s mix=%s", ctx.region, ctx.brand, users,
                 dict(sorted(mix.items())))
    features.unpersist()
    if decisions is not None:
        decisions.unpersist()
