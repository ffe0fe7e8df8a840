"""Sequential MCC affinity: how much more likely a payment at mcc2 is within W days after one at mcc1.

Definitions (the contract of ``analytics.mcc_affinity``):

* A *trigger* is one card payment (a row), at its MCC ``mcc1`` and timestamp ``t``.
* Its *follow-up set* for a window W is the set of distinct MCCs the same customer paid at with a
  timestamp in ``(t, t + W·24h]``: strictly later (a payment at the same timestamp, e.g. a split
  authorisation, does not count), exactly W·24h later still counts. Rows are ordered by timestamp,
  never by input order, at microsecond precision. A trigger counts at most once per mcc2, however
  many mcc2 payments follow it.
* Only triggers whose whole window is observed count: ``t + W·24h`` before the end of the run date
  (``observed_until``). Later triggers would look as if nothing followed them (censoring).
* ``trigger_count`` (mcc1) = triggers at mcc1; ``pair_count`` (mcc1, mcc2) = those whose follow-up
  set holds mcc2; ``follow_any_count`` (mcc1) = those whose follow-up set is not empty.
* ``p_mcc2_given_mcc1`` = pair_count / trigger_count.
* Naive baseline ``p_mcc2_naive`` = share of *all* triggers (any MCC, mcc2 itself included) followed
  by mcc2 within W; the same kind of event as the conditional probability, so an mcc1 unrelated to
  mcc2 has ``lift_naive`` ≈ 1 whatever the customers' activity.
* Refined baseline ``p_mcc2_refined`` = the same share among triggers that had any follow-up within
  W; ``lift_refined`` = (pair_count / follow_any_count) / p_mcc2_refined compares "what is bought
  next" among customers who did buy something next, so an mcc1 merely marking active days does not
  look like an affinity to everything.
* Wilson score interval (``ci_low``, ``ci_high``) of p_mcc2_given_mcc1 with n = trigger_count;
  ``lift_low`` = ci_low / p_mcc2_naive is the conservative rank key (the baseline is estimated from
  every trigger of the region, so its own error is ignored); ``is_supported`` = pair_count ≥
  min_support. Rare pairs get a wide interval, a low lift_low, and no support flag.
* Pairs never observed (pair_count = 0) have no row. mcc1 == mcc2 rows (repeat visits) are dropped
  unless ``include_same_mcc``; they still count in every baseline and denominator.

Why window functions and not a self-join: a per-customer self-join pairs every payment with every
later one (quadratic in a heavy user's history) before filtering on time. Here one sort by
(user, time) feeds a ``collect_set`` over a *range frame* ``(t, t + W]`` per window: each trigger
only sees its own W-day neighbourhood, so cost is payments × payments-within-W, linear in history
length. All windows share that single sort. Each trigger then emits its distinct follow-up MCCs
plus two marker items (it exists; it had a follow-up) and one ``groupBy().count()`` with map-side
partial aggregation produces every count at once; only (region, window, mcc1, mcc2) aggregates —
at most regions × windows × MCCs² rows — are shuffled. The statistics step sums over window
partitions of that small frame instead of joining it to itself, so the payments are read, sorted
and windowed exactly once (joins of two aggregates of one plan would recompute it per branch).
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

DAY_US = 86_400 * 1_000_000
_TRIGGER = "\u0000trigger"  # marker items: never a 4-digit MCC
_ANY = "\u0000any"

STAT_COLUMNS = (
    "region", "window_days", "mcc1", "mcc2", "trigger_count", "pair_count", "follow_any_count",
    "p_mcc2_given_mcc1", "p_mcc2_naive", "p_mcc2_refined", "lift_naive", "lift_refined", "ci_low", "ci_high",
    "lift_low", "is_supported",
)


def follow_ups(tx: DataFrame, windows: Sequence[int], observed_until: dt.datetime) -> DataFrame:
    """One row per observed (trigger, window): region, window_days, mcc1, follow (array of distinct MCCs).

    ``tx`` needs user_id, region, txn_ts, mcc; ``observed_until`` is the exclusive end of the data.
    """
    t_us = F.unix_micros(F.col("txn_ts"))
    base = tx.select("user_id", "region", F.col("mcc").alias("mcc1"), t_us.alias("t_us"))
    by_time = Window.partitionBy("user_id").orderBy("t_us")
    end_us = int((observed_until - dt.datetime(1970, 1, 1)).total_seconds()) * 1_000_000
    sets = [F.collect_set("mcc1").over(by_time.rangeBetween(1, w * DAY_US)).alias(f"_f{w}") for w in windows]
    per_window = [
        F.struct(F.lit(w).alias("window_days"), F.col(f"_f{w}").alias("follow"),
                 (F.col("t_us") + F.lit(w * DAY_US) < F.lit(end_us)).alias("observed"))
        for w in windows
    ]
    return (
        base.select("region", "mcc1", "t_us", *sets)
        .select("region", "mcc1", F.explode(F.array(*per_window)).alias("x"))
        .where(F.col("x.observed"))
        .select("region", "x.window_days", "mcc1", "x.follow")
    )


def counts(follow: DataFrame) -> DataFrame:
    """From :func:`follow_ups`: (region, window_days, mcc1, item, count) — a small frame.

    Every trigger emits a marker item, a second one if it had a follow-up, and its follow-up MCCs;
    one count per (region, window, mcc1, item) then holds every count the statistics need.
    """
    items = F.concat(
        F.array(F.lit(_TRIGGER)),
        F.when(F.size("follow") > 0, F.array(F.lit(_ANY))).otherwise(F.array().cast("array<string>")),
        F.col("follow"),
    )
    return (
        follow.select("region", "window_days", "mcc1", F.explode(items).alias("item"))
        .groupBy("region", "window_days", "mcc1", "item")
        .count()
    )


def wilson(successes: Column, n: Column, z: float) -> tuple[Column, Column]:
    """Wilson score interval (low, high) of a binomial proportion successes / n."""
    p = successes / n
    z2 = z * z
    centre = (p + F.lit(z2) / (2 * n)) / (1 + F.lit(z2) / n)
    half = F.lit(z) * F.sqrt(p * (1 - p) / n + F.lit(z2) / (4 * n * n)) / (1 + F.lit(z2) / n)
    return F.greatest(centre - half, F.lit(0.0)), F.least(centre + half, F.lit(1.0))


def statistics(tallies: DataFrame, z: float, min_support: int, include_same_mcc: bool) -> DataFrame:
    """Probabilities, both baselines, lifts, interval and support from :func:`counts`.

    Sums over window partitions rather than joins, so the (expensive) input plan is consumed once.
    """
    def total(item: str, *keys: str) -> Column:
        counted = F.when(F.col("item") == item, F.col("count")).otherwise(0)
        return F.sum(counted).over(Window.partitionBy(*keys))

    df = tallies.select(
        "region", "window_days", "mcc1", "item", "count",
        total(_TRIGGER, "region", "window_days", "mcc1").alias("trigger_count"),
        total(_ANY, "region", "window_days", "mcc1").alias("follow_any_count"),
        total(_TRIGGER, "region", "window_days").alias("_all"),
        total(_ANY, "region", "window_days").alias("_any"),
        F.sum("count").over(Window.partitionBy("region", "window_days", "item")).alias("_followed_by_mcc2"),
    ).where(~F.col("item").isin(_TRIGGER, _ANY)).withColumnRenamed("item", "mcc2")
    p = F.col("count") / F.col("trigger_count")
    naive = F.col("_followed_by_mcc2") / F.col("_all")
    refined = F.col("_followed_by_mcc2") / F.col("_any")
    low, high = wilson(F.col("count").cast("double"), F.col("trigger_count").cast("double"), z)
    out = df.select(
        "region", "window_days", "mcc1", "mcc2", F.col("trigger_count").cast("long").alias("trigger_count"),
        F.col("count").cast("long").alias("pair_count"),
        F.col("follow_any_count").cast("long").alias("follow_any_count"),
        p.alias("p_mcc2_given_mcc1"), naive.alias("p_mcc2_naive"), refined.alias("p_mcc2_refined"),
        (p / naive).alias("lift_naive"),
        ((F.col("count") / F.col("follow_any_count")) / refined).alias("lift_refined"),
        low.alias("ci_low"), high.alias("ci_high"), (low / naive).alias("lift_low"),
        (F.col("count") >= min_support).alias("is_supported"),
    )
    if not include_same_mcc:  # after the baselines: repeat visits still count in every denominator
        out = out.where(F.col("mcc1") != F.col("mcc2"))
    return out.select(*STAT_COLUMNS)


def affinities(tx: DataFrame, windows: Sequence[int], observed_until: dt.datetime, z: float = 1.96,
               min_support: int = 30, include_same_mcc: bool = False) -> DataFrame:
    """Every (region, window, mcc1, mcc2) statistic of ``tx`` (user_id, region, txn_ts, mcc)."""
    return statistics(counts(follow_ups(tx, windows, observed_until)), z, min_support, include_same_mcc)
