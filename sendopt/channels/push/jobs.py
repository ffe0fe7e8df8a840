"""``decide-push``: one notification per user and period, per market, written to decisions.push_notifications
and recorded in the cross-channel contact history."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from sendopt.channels.contacts import recent_contacts, record_contacts
from sendopt.channels.push import orchestrate as o
from sendopt.channels.push.calibrate import fit_click_model
from sendopt.channels.push.config import PushConfig
from sendopt.channels.push.messages import render
from sendopt.channels.push.publish import previous_push_share, sanity_checks
from sendopt.channels.push.send_time import send_hours
from sendopt.channels.push.strategies.base import PushInputs, load_strategies
from sendopt.lake.quality import read_clean_many
from sendopt.lake.tables.push import PUSH_NOTIFICATIONS
from sendopt.observability import stage

SCORER = "heuristic-v1"


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
        (F.col("region") == region) & (F.col("brand") == brand)
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
                      & (F.col("region") == region) & (F.col("brand") == brand))
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
    scorer = f"score={SCORER}" + (f";click={model.version()}" if model else "")
    return Pairs(users, best, pushes, scorer + (f";{notes}" if notes else ""))


def decide(spark, pairs: Pairs, run_date: dt.date, region: str, cfg: PushConfig, categories) -> DataFrame:
    """Conciliation, send time and text for the best pairs."""
    names = [s.name for s in cfg.enabled_strategies]
    counts = o.strategy_click_counts(pairs.pushes, run_date, names, cfg.conciliation.history_days)
    draws = o.thompson_draws(spark, counts, cfg, run_date)
    chosen = o.conciliate(pairs.best, draws, cfg, run_date)
    hours = send_hours(pairs.pushes, chosen, run_date, cfg, region)
    return render(chosen.join(hours, "user_id"), cfg, categories)


def run_decide_push(ctx) -> None:
    cfg: PushConfig = ctx.config.push
    if not cfg.publish.enabled:
        ctx.log.warning("KILL SWITCH: push.publish.enabled is false — nothing published for %s/%s on %s",
                        ctx.region, ctx.brand, ctx.run_date)
        ctx.summary.update(status="killed", message="push.publish.enabled=false")
        return
    pairs = best_pairs(ctx.spark, ctx.lake, ctx.run_date, ctx.region, ctx.brand, cfg, ctx.log)
    categories = ctx.lake.read("reference.mcc_codes") if ctx.lake.exists("reference.mcc_codes") else None
    with stage(ctx.spark, ctx.log, "decide-push: conciliate + send time + text", region=ctx.region,
               brand=ctx.brand) as info:
        chosen = decide(ctx.spark, pairs, ctx.run_date, ctx.region, cfg, categories).cache()
        audience = pairs.users.where(F.col("push_consent")).count()
        report = sanity_checks(chosen, pairs.users, audience,
                               previous_push_share(ctx.lake, ctx.region, ctx.brand, ctx.run_date, audience),
                               cfg, ctx.region)
        info.update(rows=int(report.figures.get("rows", 0)))
    if not report.passed:
        reason = "sanity checks failed: " + "; ".join(report.failures)
        ctx.log.error("FALLBACK (no pushes) for %s/%s on %s: %s", ctx.region, ctx.brand, ctx.run_date, reason)
        ctx.summary.update(status="fallback", message=reason)
        chosen = chosen.limit(0)
    send_ts = F.to_timestamp(F.format_string("%s %02d:00:00", F.lit(ctx.run_date.isoformat()), F.col("send_hour")))
    out = chosen.select(
        F.lit(ctx.run_date).cast("date").alias("decision_date"), F.lit(ctx.region).alias("region"),
        F.lit(ctx.brand).alias("brand"), "user_id", F.lit(ctx.run_date).cast("date").alias("send_date"),
        "send_hour", "send_hour_source", "strategy", "store_id", "merchant_id", F.col("mcc").cast("string"),
        "distance_km", "affinity", "discount_pct", "score", "calibrated_score", "strategy_weight",
        "strategies_available", "reason", "text", "is_exploration", "exploration_prob",
        F.lit(pairs.model_versions).alias("model_versions"), F.lit(ctx.run_id).alias("run_id"),
        F.lit(ctx.config.config_hash).alias("config_hash"), F.current_timestamp().alias("decided_at"),
    )
    where = {"decision_date": ctx.run_date, "region": ctx.region, "brand": ctx.brand}
    written = ctx.lake.write(out, PUSH_NOTIFICATIONS, mode="replace", where=where)
    published = ctx.lake.read(PUSH_NOTIFICATIONS).where(
        (F.col("decision_date") == F.lit(ctx.run_date)) & (F.col("region") == ctx.region)
        & (F.col("brand") == ctx.brand))
    record_contacts(ctx.lake, published.select(
        "user_id", "region", "brand", send_ts.alias("contact_ts"), F.col("send_hour").alias("contact_hour"),
        F.col("strategy").alias("campaign"), F.col("store_id").cast("string").alias("reference_id")),
        "push", ctx.run_date, ctx.region, ctx.brand, ctx.run_id, PUSH_NOTIFICATIONS.full_name)
    mix = {r["strategy"]: r["count"] for r in published.groupBy("strategy").count().collect()}  # ≤ strategies
    ctx.summary.setdefault("message", f"{written.rows} pushes for {audience} consenting users; strategies {mix}")
    ctx.log.info("stage=decide-push region=%s brand=%s pushes=%s audience=%s mix=%s checks=%s", ctx.region,
                 ctx.brand, written.rows, audience, mix, report.figures)
    chosen.unpersist()  # the local checkpoints go with their references
