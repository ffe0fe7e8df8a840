"""Target → Audience → Filter → Score → Conciliation, as small pure functions of DataFrames.

``jobs.run_decide_push`` reads the tables and chains these; the evaluation reuses the same chain up to
the per-strategy best pairs, so baselines face the same filters. Only small aggregates reach the driver
(per-strategy click counts: a few rows).
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

import numpy as np
from pyspark.sql import DataFrame, SparkSession, Window
from pyspark.sql import functions as F

from sendopt.channels.primitives import in_market, uniform_hash
from sendopt.channels.push.calibrate import ClickModel
from sendopt.channels.push.config import PushConfig
from sendopt.channels.push.strategies.base import CANDIDATE_COLUMNS, PushInputs, PushStrategy
from sendopt.errors import SendoptError

PAIR_FIELDS = (*CANDIDATE_COLUMNS[1:], "score")


# ------------------------------------------------------------------ inputs
def market_users(customers: DataFrame, consents: DataFrame, payments: DataFrame, stores: DataFrame,
                 region: str, brand: str, run_date: dt.date, cfg: PushConfig) -> DataFrame:
    """(user_id, push_consent, loc_lat, loc_lon, loc_source) for the market's customers signed up by run_date.

    Consent: the latest push change before the run date, else the signup state. Location: the first
    available of ``location_sources`` — ``home`` (the registered address in raw.customers), ``card_median``
    (median card payment coordinates over ``location_days``: where they shop) — else the centre of the
    region's stores. (Web events carry no geodata in this lake.)
    """
    base = customers.where(in_market(region, brand)
                           & (F.col("signup_date") <= F.lit(run_date)))
    latest = (consents.where((F.col("channel") == "push") & (F.col("event_date") < F.lit(run_date)))
              .groupBy("user_id").agg(F.max_by("consented", "changed_at").alias("_consent")))
    since = F.date_sub(F.lit(run_date), cfg.location_days)
    located = (payments.where(F.col("event_date").between(since, F.date_sub(F.lit(run_date), 1))
                              & F.col("lat").isNotNull() & F.col("lon").isNotNull())
               .groupBy("user_id").agg(F.percentile_approx("lat", 0.5).alias("_card_median_lat"),
                                       F.percentile_approx("lon", 0.5).alias("_card_median_lon")))
    centre = stores.where(F.col("region") == region).agg(F.avg("lat").alias("_c_lat"), F.avg("lon").alias("_c_lon"))
    users = (base.withColumnRenamed("home_lat", "_home_lat").withColumnRenamed("home_lon", "_home_lon")
             .join(latest, "user_id", "left").join(located, "user_id", "left").crossJoin(F.broadcast(centre)))
    known = [(s, F.col(f"_{s}_lat").isNotNull() & F.col(f"_{s}_lon").isNotNull()) for s in cfg.location_sources]
    source = F.coalesce(*[F.when(ok, F.lit(s)) for s, ok in known], F.lit("region_centre"))

    def coord(axis: str):
        return F.coalesce(*[F.when(ok, F.col(f"_{s}_{axis}")) for s, ok in known], F.col(f"_c_{axis}"))

    return users.select(
        "user_id",
        F.coalesce(F.col("_consent"), F.col("push_opt_in"), F.lit(False)).alias("push_consent"),
        coord("lat").alias("loc_lat"), coord("lon").alias("loc_lon"), source.alias("loc_source"),
    )


def region_stores(stores: DataFrame, merchants: DataFrame, campaigns: DataFrame, region: str,
                  run_date: dt.date) -> DataFrame:
    """The region's stores with merchant name and the best discount_pct of a campaign active on run_date."""
    active = (campaigns.where((F.col("start_date") <= F.lit(run_date)) & (F.col("end_date") >= F.lit(run_date)))
              .groupBy("merchant_id").agg(F.max(F.coalesce("discount_pct", F.lit(0))).alias("discount_pct")))
    return (stores.where((F.col("region") == region) & F.col("lat").isNotNull() & F.col("lon").isNotNull())
            .join(merchants.select("merchant_id", "merchant_name"), "merchant_id", "left")
            .join(active, "merchant_id", "left")
            .select("store_id", "merchant_id", "merchant_name", "mcc", "lat", "lon",
                    F.coalesce(F.col("discount_pct").cast("double"), F.lit(0.0)).alias("discount_pct")))


# ------------------------------------------------------------------ target / audience / filter
def target(strategies: Iterable[PushStrategy], inputs: PushInputs) -> DataFrame:
    """Every strategy's candidates, tagged with its name (one union)."""
    out = None
    for s in strategies:
        cands = s.candidates(inputs)
        missing = [c for c in CANDIDATE_COLUMNS if c not in cands.columns]
        if missing:
            raise SendoptError(f"push strategy {s.name}: candidates lack columns {missing}")
        cands = cands.select(*CANDIDATE_COLUMNS).withColumn("strategy", F.lit(s.name))
        out = cands if out is None else out.unionByName(cands)
    if out is None:
        raise SendoptError("push.strategies: no enabled strategy")
    return out


def audience(candidates: DataFrame, users: DataFrame) -> DataFrame:
    """Keep the market's users with push consent (opted-out users never get a push)."""
    return candidates.join(users.where(F.col("push_consent")).select("user_id"), "user_id")


def cooldown_users(contacts: DataFrame, pushes: DataFrame, run_date: dt.date, cfg: PushConfig) -> DataFrame:
    """Users contacted within the cooldown before the run date: any channel's contact history (except the
    slice this run replaces, which the caller drops) and the observed push log."""
    hours = max(cfg.cooldown_hours, 24 * (cfg.period_days - 1))
    since = dt.datetime.combine(run_date, dt.time()) - dt.timedelta(hours=hours)
    if cfg.cooldown_channels is not None:
        contacts = contacts.where(F.col("channel").isin(list(cfg.cooldown_channels)))
    recent = contacts.where(F.col("contact_ts") >= F.lit(since)).select("user_id")
    if cfg.cooldown_channels is None or "push" in cfg.cooldown_channels:
        sent = pushes.where((F.col("sent_at") >= F.lit(since))
                            & (F.col("event_date") < F.lit(run_date))).select("user_id")
        recent = recent.unionByName(sent)
    return recent.distinct().withColumn("rule", F.lit("cooldown"))


def fatigued_users(pushes: DataFrame, run_date: dt.date, cfg: PushConfig) -> DataFrame:
    """Users whose last ``fatigue_ignored`` pushes (within ``fatigue_days``) were all left unopened."""
    k = cfg.fatigue_ignored
    recent = pushes.where(F.col("event_date").between(F.date_sub(F.lit(run_date), cfg.fatigue_days),
                                                      F.date_sub(F.lit(run_date), 1)))
    last = recent.withColumn("_n", F.row_number().over(
        Window.partitionBy("user_id").orderBy(F.desc("sent_at"), F.desc("push_id")))).where(F.col("_n") <= k)
    return (last.groupBy("user_id").agg(F.count(F.lit(1)).alias("_k"),
                                        F.sum(F.col("opened_at").isNotNull().cast("int")).alias("_opened"))
            .where((F.col("_k") >= k) & (F.col("_opened") == 0)).select("user_id", F.lit("fatigue").alias("rule")))


def filter_candidates(candidates: DataFrame, blocked: DataFrame, cfg: PushConfig) -> DataFrame:
    """Drop blocked users (cooldown, fatigue, quiet hours, ...) and ineligible pairs (no store, too far)."""
    eligible = (F.col("store_id").isNotNull() & F.col("distance_km").isNotNull()
                & (F.col("distance_km") <= F.lit(cfg.radius_km)))
    return candidates.where(eligible).join(blocked.select("user_id").distinct(), "user_id", "left_anti")


# ------------------------------------------------------------------ score
def score(candidates: DataFrame, cfg: PushConfig, model: ClickModel | None = None) -> DataFrame:
    """Weighted heuristic per strategy: affinity, closeness (1 − d/radius), discount (pct/100); with a click
    model fitted on the push log, also ``p_click`` = its P(click | open) of the pair."""
    w = {s.name: s.weights for s in cfg.strategies}

    def weight(field: str):
        return F.coalesce(*[F.when(F.col("strategy") == n, F.lit(getattr(x, field))) for n, x in w.items()],
                          F.lit(0.0))

    closeness = F.greatest(F.lit(0.0), 1.0 - F.col("distance_km") / F.lit(cfg.radius_km))
    value = (weight("affinity") * F.coalesce(F.col("affinity"), F.lit(0.0)) + weight("distance") * closeness
             + weight("discount") * F.coalesce(F.col("discount_pct"), F.lit(0.0)) / 100.0)
    scored = candidates.withColumn("score", value)
    if model is not None:
        scored = scored.withColumn("p_click", model.p_click_given_open(F.col("strategy"), F.col("affinity"),
                                                                       F.col("distance_km")))
    return scored


def best_per_strategy(scored: DataFrame) -> DataFrame:
    """Keep each user's best pair per strategy: highest p_click when scored by a click model, then highest
    heuristic score (ties: lower store_id)."""
    keys = [F.desc("p_click")] if "p_click" in scored.columns else []
    order = Window.partitionBy("user_id", "strategy").orderBy(*keys, F.desc("score"), "store_id")
    return scored.withColumn("_r", F.row_number().over(order)).where(F.col("_r") == 1).drop("_r")


# ------------------------------------------------------------------ conciliation
def strategy_click_counts(pushes: DataFrame, run_date: dt.date, names: list[str], history_days: int
                          ) -> dict[str, tuple[float, float]]:
    """{strategy: (clicks, pushes)} over the history window (a few rows reach the driver)."""
    rows = (pushes.where(F.col("event_date").between(F.date_sub(F.lit(run_date), history_days),
                                                     F.date_sub(F.lit(run_date), 1))
                         & F.col("strategy").isin(names))
            .groupBy("strategy").agg(F.sum(F.col("clicked_at").isNotNull().cast("double")).alias("clicks"),
                                     F.count(F.lit(1)).cast("double").alias("pushes"))
            .collect())  # ≤ number of strategies
    counts = {r["strategy"]: (r["clicks"], r["pushes"]) for r in rows}
    return {n: counts.get(n, (0.0, 0.0)) for n in names}


def thompson_draws(spark: SparkSession, counts: dict[str, tuple[float, float]], cfg: PushConfig,
                   run_date: dt.date) -> DataFrame:
    """(draw, strategy, theta, posterior_mean): ``draws`` samples of each strategy's Beta posterior click rate,
    each floored at ``floor`` × that draw's best; seeded by (seed, run_date) so a re-run draws the same."""
    c = cfg.conciliation
    names = sorted(counts)
    rng = np.random.default_rng([c.seed, run_date.toordinal()])
    a = np.array([c.prior_clicks + counts[n][0] for n in names])
    b = np.array([c.prior_misses + counts[n][1] - counts[n][0] for n in names])
    theta = rng.beta(a, b, size=(c.draws, len(names)))
    theta = np.maximum(theta, c.floor * theta.max(axis=1, keepdims=True))
    mean = a / (a + b)
    rows = [(i, n, float(theta[i, j]), float(mean[j])) for i in range(c.draws) for j, n in enumerate(names)]
    return spark.createDataFrame(rows, "draw int, strategy string, theta double, posterior_mean double")


def conciliate(best: DataFrame, draws: DataFrame, cfg: PushConfig, run_date: dt.date) -> DataFrame:
    """One pair per user across strategies.

    With a click model (``p_click`` on the pairs) the strategies are compared on its calibrated P(click |
    open): calibrated_score = p_click. Without one, the heuristic scores share one [0, 1] scale across
    strategies (same terms) and calibrated_score = the strategy's posterior mean click rate × score. Either
    way the user's value of a strategy = calibrated_score × its Thompson draw / its posterior mean (the user
    reads draw hash(salt, date, user) mod draws), so the per-strategy weights adapt to observed click rates;
    the highest value wins. An ``exploration.share`` of users (hash) gets a uniformly random available
    strategy instead; ``exploration_prob`` is the chosen strategy's probability under the policy (over the
    exploration coin, given the draws).
    """
    c, ex = cfg.conciliation, cfg.exploration
    user = F.col("user_id")
    day = run_date.isoformat()
    draw = F.pmod(F.xxhash64(F.lit(c.salt), F.lit(day), user), F.lit(c.draws)).cast("int")
    calibrated = (F.col("p_click") if "p_click" in best.columns
                  else F.col("posterior_mean") * F.col("score"))
    valued = (best.withColumn("draw", draw).join(F.broadcast(draws), ["draw", "strategy"])
              .withColumn("calibrated_score", calibrated)
              .withColumn("strategy_weight", F.col("theta"))
              .withColumn("value", F.col("calibrated_score") * F.col("theta") / F.col("posterior_mean")))
    fields = [f for f in (*PAIR_FIELDS, "calibrated_score", "strategy_weight") if f in valued.columns]
    per_user = valued.groupBy("user_id").agg(
        F.sort_array(F.collect_list(F.struct("strategy", *fields))).alias("opts"),
        F.max(F.struct("value", "strategy")).getField("strategy").alias("greedy"),
    )
    n = F.size("opts")
    explore = uniform_hash(user, ex.salt, f"holdout-{day}") < F.lit(ex.share)
    pick = F.element_at(F.col("opts"), (F.floor(uniform_hash(user, ex.salt, f"strategy-{day}") * n) + 1).cast("int"))
    chosen = F.when(explore, pick.getField("strategy")).otherwise(F.col("greedy"))
    out = per_user.withColumn("strategy", chosen).withColumn("is_exploration", explore).withColumn(
        "exploration_prob",
        F.lit(1.0 - ex.share) * (F.col("strategy") == F.col("greedy")).cast("double") + F.lit(ex.share) / n,
    ).withColumn("strategies_available", n.cast("int")).withColumn(
        "_pair", F.element_at(F.filter("opts", lambda o: o.getField("strategy") == F.col("strategy")), 1))
    return out.select("user_id", "strategy", *[F.col("_pair").getField(f).alias(f) for f in fields],
                      "is_exploration", "exploration_prob", "strategies_available")
