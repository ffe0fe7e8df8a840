"""The push channel's jobs: ``mcc-affinity`` and ``decide-push`` (one notification per user and period, per
market, written to decisions.push_notifications and recorded in the cross-channel contact history).

Its truth evaluations (``evaluate-push``, ``evaluate-affinity``) live in ``sendopt.evaluation.jobs``."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from sendopt.channels.contacts import recent_contacts, record_contacts
from sendopt.channels.primitives import in_market
from sendopt.channels.publish import Proposal, publish_with_guardrails
from sendopt.channels.push import orchestrate as o
from sendopt.channels.push.affinity import affinities
from sendopt.channels.push.affinity_io import job_regions, lookback_transactions, top_pairs
from sendopt.channels.push.calibrate import fit_click_model
from sendopt.channels.push.config import PushConfig
from sendopt.channels.push.messages import render
from sendopt.channels.push.publish import previous_push_share, sanity_checks
from sendopt.channels.push.send_time import send_hours
from sendopt.channels.push.strategies.base import PushInputs, load_strategies
from sendopt.channels.push.tables import MCC_AFFINITY, PUSH_NOTIFICATIONS
from sendopt.lake.quality import read_clean_many
from sendopt.observability import stage
from sendopt.runner import JobContext


@dataclass
class Pairs:
    """The chain up to each user's best pair per strategy (shared with the evaluation)."""

    users: DataFrame  # market users with consent and location
    best: DataFrame  # one row per (user, strategy) after audience and filters, scored
    pushes: DataFrame  # validated raw.push_notifications (history for rates, fatigue, send time)
    model_versions: str


def best_pairs(spark, lake, run_date: dt.date, region: str, brand: str, cfg: PushConfig, log) -> Pairs:
    """Target → Audience → Filter → Score → best pair per user and strategy, for one market and date."""
    read = read_clean_many(lake, run_date)  # validated raw rows; release() when done
    # local checkpoints cut the lineage of the validated reads: later plans stay small (the analyser of a
    # plan holding every validation tree ran out of heap in tests)
    stores = o.region_stores(read("raw.stores"), read("raw.merchants"), read("raw.promo_campaigns"), region,
                             run_date).localCheckpoint()
    users = o.market_users(read("raw.customers"), read("raw.consents"), read("raw.card_transactions"),
                           read("raw.stores"), region, brand, run_date, cfg).localCheckpoint()
    inputs = PushInputs(lake, run_date, region, brand, cfg, users, stores, read)
    days = max(cfg.conciliation.history_days, cfg.fatigue_days, cfg.send_time.history_days, cfg.calibration.days,
               cfg.cooldown_hours // 24 + cfg.period_days)
    pushes = read("raw.push_notifications").where(  # the market's push history the rules look at
        in_market(region, brand)
        & F.col("event_date").between(F.lit(run_date - dt.timedelta(days=days)), F.lit(run_date - dt.timedelta(days=1)))
    ).localCheckpoint()
    strategies = load_strategies(cfg)
    with stage(spark, log, "decide-push: target + audience", region=region, brand=brand) as info:
        candidates = o.audience(o.target(strategies, inputs), users).localCheckpoint()
        info.update(rows=candidates.count())
    with stage(spark, log, "decide-push: filter", region=region, brand=brand) as info:
        contacts = recent_contacts(lake, run_date - dt.timedelta(days=cfg.cooldown_hours // 24 + cfg.period_days),
                                   run_date)
        this_slice = ((F.col("channel") == "push") & (F.col("contact_date") == F.lit(run_date))
                      & in_market(region, brand))
        blocked = o.cooldown_users(contacts.where(~this_slice), pushes, run_date, cfg).unionByName(
            o.fatigued_users(pushes, run_date, cfg))
        eligible = o.filter_candidates(candidates, blocked, cfg).localCheckpoint()
        info.update(rows=eligible.count())
    with stage(spark, log, "decide-push: calibration", region=region, brand=brand) as info:
        model = fit_click_model(strategies, inputs, pushes, cfg, log)
        info.update(model=model.version() if model else "none")
    with stage(spark, log, "decide-push: score", region=region, brand=brand) as info:
        best = o.best_per_strategy(o.score(eligible, cfg, model)).localCheckpoint()
        info.update(rows=best.count())
    read.release()
    notes = ";".join(f"{k}:{v}" for k, v in sorted(inputs.notes.items()))
    scorer = f"score={cfg.scorer_version}" + (f";click={model.version()}" if model else "")
    return Pairs(users, best, pushes, scorer + (f";{notes}" if notes else ""))


def decide(spark, pairs: Pairs, run_date: dt.date, region: str, cfg: PushConfig, categories) -> DataFrame:
    """Conciliation, send time and text for the best pairs."""
    names = [s.name for s in cfg.enabled_strategies]
    counts = o.strategy_click_counts(pairs.pushes, run_date, names, cfg.conciliation.history_days)
    draws = o.thompson_draws(spark, counts, cfg, run_date)
    chosen = o.conciliate(pairs.best, draws, cfg, run_date)
    hours = send_hours(pairs.pushes, chosen, run_date, cfg, region)
    return render(chosen.join(hours, "user_id"), cfg, categories)


def run_mcc_affinity(ctx: JobContext) -> None:
    """Sequential MCC affinities (mcc2 within W days after mcc1) per region and window → analytics.mcc_affinity."""
    cfg, lake, run_date = ctx.config.affinity, ctx.lake, ctx.run_date
    regions = job_regions(ctx)
    observed_until = dt.datetime.combine(run_date + dt.timedelta(days=1), dt.time())
    computed_at = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
    tx = lookback_transactions(lake, run_date, cfg.lookback_days, regions)
    stats = affinities(tx, cfg.windows_days, observed_until, cfg.confidence_z, cfg.min_support,
                       cfg.include_same_mcc)
    out = stats.select(
        F.lit(run_date).cast("date").alias("run_date"), "*",
        F.lit(computed_at).cast("timestamp").alias("computed_at"), F.lit(ctx.run_id).alias("run_id"),
    ).select(*[F.col(c.name).cast(c.type) for c in MCC_AFFINITY.columns])
    with stage(ctx.spark, ctx.log, "mcc-affinity", regions=",".join(regions), windows=list(cfg.windows_days),
               lookback_days=cfg.lookback_days) as info:
        where = {"run_date": run_date, "region": regions}
        result = lake.write(out, MCC_AFFINITY, mode="replace", where=where)
        info.update(rows=result.rows)
    top = top_pairs(lake, run_date, regions, cfg.top_k)
    for line in top:
        ctx.log.info("%s", line)
    ctx.summary["message"] = (f"{result.rows} pairs for {len(regions)} region(s) × windows "
                              f"{list(cfg.windows_days)}")


def run_decide_push(ctx: JobContext) -> None:
    """At most one push per user and period across strategies, published through the shared guardrails and
    recorded in the contact history."""
    cfg: PushConfig = ctx.config.push
    state: dict = {}

    def propose() -> Proposal:
        pairs = state["pairs"] = best_pairs(ctx.spark, ctx.lake, ctx.run_date, ctx.region, ctx.brand, cfg, ctx.log)
        categories = ctx.lake.read("reference.mcc_codes") if ctx.lake.exists("reference.mcc_codes") else None
        with stage(ctx.spark, ctx.log, "decide-push: conciliate + send time + text", region=ctx.region,
                   brand=ctx.brand) as info:
            chosen = state["chosen"] = decide(ctx.spark, pairs, ctx.run_date, ctx.region, cfg, categories).cache()
            audience = state["audience"] = pairs.users.where(F.col("push_consent")).count()
            report = sanity_checks(chosen, pairs.users, audience,
                                   previous_push_share(ctx.lake, ctx.region, ctx.brand, ctx.run_date, audience),
                                   cfg, ctx.region)
            info.update(rows=int(report.figures.get("rows", 0)))
        return Proposal(chosen, report)

    def to_rows(chosen: DataFrame, fell_back: bool) -> DataFrame:
        return chosen.select(
            F.lit(ctx.run_date).cast("date").alias("decision_date"), F.lit(ctx.region).alias("region"),
            F.lit(ctx.brand).alias("brand"), "user_id", F.lit(ctx.run_date).cast("date").alias("send_date"),
            "send_hour", "send_hour_source", "strategy", "store_id", "merchant_id", F.col("mcc").cast("string"),
            "distance_km", "affinity", "discount_pct", "score", "calibrated_score", "strategy_weight",
            "strategies_available", "reason", "text", "is_exploration", "exploration_prob",
            F.lit(state["pairs"].model_versions).alias("model_versions"), F.lit(ctx.run_id).alias("run_id"),
            F.lit(ctx.config.config_hash).alias("config_hash"), F.current_timestamp().alias("decided_at"),
        )

    published = publish_with_guardrails(
        ctx, channel="push", enabled=cfg.publish.enabled, table=PUSH_NOTIFICATIONS,
        where={"decision_date": ctx.run_date, "region": ctx.region, "brand": ctx.brand}, propose=propose,
        fallback=lambda: state["chosen"].limit(0), fallback_name="no pushes", to_rows=to_rows)
    if published is None:
        return
    send_ts = F.to_timestamp(F.format_string("%s %02d:00:00", F.lit(ctx.run_date.isoformat()), F.col("send_hour")))
    pushed = ctx.lake.read(PUSH_NOTIFICATIONS).where(
        (F.col("decision_date") == F.lit(ctx.run_date)) & in_market(ctx.region, ctx.brand))
    record_contacts(ctx.lake, pushed.select(
        "user_id", "region", "brand", send_ts.alias("contact_ts"), F.col("send_hour").alias("contact_hour"),
        F.col("strategy").alias("campaign"), F.col("store_id").cast("string").alias("reference_id")),
        "push", ctx.run_date, ctx.region, ctx.brand, ctx.run_id, PUSH_NOTIFICATIONS.full_name)
    mix = {r["strategy"]: r["count"] for r in pushed.groupBy("strategy").count().collect()}  # ≤ strategies
    rows, audience = published.written.rows, state["audience"]
    ctx.summary.setdefault("message", f"{rows} pushes for {audience} consenting users; strategies {mix}")
    ctx.log.info("stage=decide-push region=%s brand=%s pushes=%s audience=%s mix=%s checks=%s", ctx.region,
                 ctx.brand, rows, audience, mix, published.checks.figures)
    state["chosen"].unpersist()  # the local checkpoints go with their references
