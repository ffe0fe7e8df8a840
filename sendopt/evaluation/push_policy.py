"""True expected outcome of the published pushes vs baselines, from the world's truth (generated worlds only).

For the decision date and market, the decision chain is re-run up to each user's best pair per strategy
(the same audience and filters the published run saw). Every pair gets its true P(open) and P(click)
(``truth.with_expected_push_outcomes``: send-hour match, fatigue, activity, and the store's relevance and
distance from home). Policies compared on the same eligible users (≥ 1 candidate):

* ``orchestrated``: the published pushes (decisions.push_notifications);
* ``random_strategy``: a uniformly random available strategy's best pair (its exact expectation);
* ``only_<s>``: strategy s's best pair; users without an s candidate get no push;
* ``oracle_strategy``: each user's truly best strategy (the ceiling of any conciliation of these pairs;
  no policy can know it).
"""
from __future__ import annotations

import datetime as dt

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from sendopt.geo import haversine_km
from sendopt.world.model import World
from sendopt.world.push import FATIGUE_DAYS
from sendopt.world.truth import with_expected_push_outcomes


def relevance(lake, world: World, pairs: DataFrame, run_date: dt.date) -> DataFrame:
    """Add pair_hit, category_hit (0/1) and home_km to (user_id, store_id, mcc) rows, as the truth defines them."""
    spark = pairs.sparkSession
    days = world.config.push.relevance_days
    since, until = F.date_sub(F.lit(run_date), days), F.date_sub(F.lit(run_date), 1)
    planted = spark.createDataFrame(
        [(world.mccs[s], world.mccs[d]) for s, d in zip(world.pair_src, world.pair_dst, strict=False)],
        "mcc1 string, mcc2 string")
    follow = (lake.read("raw.card_transactions").where(F.col("event_date").between(since, until))
              .select("user_id", F.col("mcc").alias("mcc1")).distinct()
              .join(F.broadcast(planted), "mcc1").select("user_id", F.col("mcc2").alias("mcc"))
              .distinct().withColumn("pair_hit", F.lit(1.0)))
    cats = spark.createDataFrame(list(world.config.push.mcc_categories.items()), "mcc string, category string")
    browsed = (lake.read("raw.web_events").where(F.col("event_date").between(since, until))
               .select("user_id", "category").distinct()
               .join(F.broadcast(cats), "category").select("user_id", "mcc").withColumn("category_hit", F.lit(1.0)))
    stores = lake.read("raw.stores").select("store_id", F.col("lat").alias("_s_lat"), F.col("lon").alias("_s_lon"))
    homes = lake.read("raw.customers").select("user_id", "home_lat", "home_lon")
    return (pairs.join(follow, ["user_id", "mcc"], "left").join(browsed, ["user_id", "mcc"], "left")
            .join(F.broadcast(stores), "store_id", "left").join(homes, "user_id", "left")
            .withColumn("home_km", haversine_km(F.col("home_lat"), F.col("home_lon"), F.col("_s_lat"), F.col("_s_lon")))
            .fillna({"pair_hit": 0.0, "category_hit": 0.0})
            .drop("_s_lat", "_s_lon", "home_lat", "home_lon"))


def with_truth(lake, world: World, rows: DataFrame, run_date: dt.date) -> DataFrame:
    """Add true_p_open / true_p_click to (user_id, store_id, mcc, send_hour) rows for pushes on run_date."""
    recent = (lake.read("raw.push_notifications")
              .where(F.col("event_date").between(F.date_sub(F.lit(run_date), FATIGUE_DAYS),
                                                 F.date_sub(F.lit(run_date), 1)))
              .groupBy("user_id").agg(F.count(F.lit(1)).cast("double").alias("recent_pushes")))
    traits = lake.read("truth.user_traits").select("user_id", "push_logit", "preferred_hour", "decay_start")
    df = (relevance(lake, world, rows, run_date).join(recent, "user_id", "left").fillna({"recent_pushes": 0.0})
          .join(traits, "user_id").withColumn("send_date", F.lit(run_date).cast("date")))
    return with_expected_push_outcomes(df, world, "send_hour", "send_date", "recent_pushes", "pair_hit",
                                       "category_hit", "home_km")


def policy_table(evaluated: DataFrame, strategies: list[str]) -> list[dict]:
    """Aggregate per policy (a few rows reach the driver). ``evaluated`` has a ``policy_key`` column:
    the strategy name for best pairs, ``orchestrated`` for the published rows."""
    best = evaluated.where(F.col("policy_key") != "orchestrated")
    eligible = best.select("user_id").distinct().count()
    random = best.groupBy("user_id").agg(F.avg("true_p_open").alias("o"), F.avg("true_p_click").alias("c")) \
        .agg(F.count(F.lit(1)).alias("n"), F.sum("o").alias("o"), F.sum("c").alias("c")).first()
    oracle = best.groupBy("user_id").agg(F.max_by("true_p_open", "true_p_click").alias("o"),
                                         F.max("true_p_click").alias("c")) \
        .agg(F.count(F.lit(1)).alias("n"), F.sum("o").alias("o"), F.sum("c").alias("c")).first()
    by_key = {r["policy_key"]: r for r in evaluated.groupBy("policy_key").agg(
        F.count(F.lit(1)).alias("n"), F.sum("true_p_open").alias("o"), F.sum("true_p_click").alias("c")).collect()}
    rows = []
    for policy, r in [("orchestrated", by_key.get("orchestrated")), ("random_strategy", random),
                      *[(f"only_{s}", by_key.get(s)) for s in strategies], ("oracle_strategy", oracle)]:
        n, o, c = (int(r["n"]), float(r["o"] or 0), float(r["c"] or 0)) if r is not None else (0, 0.0, 0.0)
        rows.append({"policy": policy, "eligible_users": eligible, "pushes": n, "expected_opens": o,
                     "expected_clicks": c, "clicks_per_eligible_user": c / eligible if eligible else None,
                     "click_rate_per_push": c / n if n else None})
    ref = rows[1]["clicks_per_eligible_user"]
    for r in rows:
        r["lift_vs_random"] = r["clicks_per_eligible_user"] / ref if ref and r["clicks_per_eligible_user"] else None
    return rows
