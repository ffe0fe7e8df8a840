"""Ground truth: the world's true response functions, written once for numpy and Spark.

The generators call these functions on numpy arrays to draw outcomes; the
evaluation area calls the very same functions on Spark columns (after joining
``truth.user_traits``) to get expected outcomes for millions of user-rows, so
the truth used to score a policy is exactly the truth that generated the
data. Only ``sendopt.world`` and ``sendopt.evaluation`` may import this
module (enforced by ``tests/world/test_truth_barrier.py`` and the lake guard).

Every function takes an ``ops`` namespace (:data:`NP` or :data:`SPARK`) so the
formula text exists once.
"""
from __future__ import annotations

from types import SimpleNamespace

import numpy as np
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from sendopt.world.model import World

NP = SimpleNamespace(exp=np.exp, log=np.log, where=np.where, maximum=np.maximum, minimum=np.minimum, abs=np.abs)
SPARK = SimpleNamespace(
    exp=F.exp,
    log=F.log,
    where=lambda cond, a, b: F.when(cond, a).otherwise(b),
    maximum=F.greatest,
    minimum=F.least,
    abs=F.abs,
)


def _sigmoid(ops, x):
    return 1.0 / (1.0 + ops.exp(-x))


# ---------------------------------------------------------------- engagement
def activity(ops, world: World, decay_start, day):
    """Engagement multiplier in (floor, 1]: 1 while active, then decays with e-folding ``decay_days``."""
    t = world.config.traits
    lag = ops.maximum(day - decay_start, day * 0.0)
    return t.activity_floor + (1 - t.activity_floor) * ops.exp(-lag / t.decay_days)


# ---------------------------------------------------------------- email
def behaviour_shift(ops, world: World, day, load):
    """Extra unsubscribe logit of ``world.shift`` for weeks starting on ``day`` ≥ its date (else 0)."""
    shift = world.config.shift
    if shift is None or day is None:
        return 0.0
    on = ops.where(day >= float(world.day_of(shift.date)), 1.0, 0.0)
    return on * (shift.unsubscribe_logit_delta + (shift.fatigue_multiplier - 1.0) * load)


def email_probabilities(ops, world: World, tr, k, k_prev, log_season, act, day=None):
    """Weekly multinomial outcome of a user-week with ``k`` emails: (p_purchase, p_unsubscribe).

    purchase logit = base + season + log(activity) + uplift·(1 − e^(−k/saturation))   (diminishing returns)
    unsubscribe logit = base + fatigue_slope·(k + memory·k_prev)                      (fatigue; 0 when k = 0)
    ``tr`` maps trait names to arrays or columns (``truth.user_traits``); ``day`` (the week's first
    day) switches on ``world.shift``.
    """
    a = (
        tr["purchase_logit"]
        + log_season
        + ops.log(act)
        + tr["email_uplift"] * (1.0 - ops.exp(-k / tr["saturation"]))
    )
    load = tr["fatigue_slope"] * (k + world.config.email.fatigue_memory * k_prev)
    b = tr["unsubscribe_logit"] + load + behaviour_shift(ops, world, day, load)
    ea = ops.exp(a)
    eb = ops.where(k > 0, ops.exp(b), ea * 0.0)
    denom = 1.0 + ea + eb
    return ea / denom, eb / denom


def expected_purchase_value(ops, world: World, tr):
    """Expected revenue of a purchase week: (1 + extra orders) × lognormal mean order amount."""
    sigma = world.config.traits.spend_log_sigma
    return (1.0 + world.config.email.extra_orders_mean) * ops.exp(tr["spend_log_mu"] + 0.5 * sigma * sigma)


# ---------------------------------------------------------------- push
def push_open_probability(ops, world: World, tr, send_hour, recent_pushes, act):
    """P(open) of a push: affinity + send-hour match − fatigue from pushes in the previous 7 days."""
    p = world.config.push
    match = ops.where(ops.abs(send_hour - tr["preferred_hour"]) <= 1, p.hour_match_bonus, 0.0)
    return _sigmoid(ops, tr["push_logit"] + match - p.fatigue_per_push * recent_pushes + ops.log(act))


def push_click_given_open(ops, world: World, pair_hit, category_hit, distance_km):
    """P(click | open): base + relevance of the promoted store − distance from the user's home.

    logit = logit(click_given_open) + pair_click_bonus·[store MCC follows an MCC paid at recently]
            + category_click_bonus·[store category browsed recently] − distance_click_per_10km·min(km, cap)/10
    """
    p = world.config.push
    base = float(np.log(p.click_given_open / (1.0 - p.click_given_open))) if 0 < p.click_given_open < 1 else (
        30.0 if p.click_given_open >= 1 else -30.0)
    near = ops.minimum(distance_km, distance_km * 0.0 + p.distance_cap_km)
    return _sigmoid(ops, base + p.pair_click_bonus * pair_hit + p.category_click_bonus * category_hit
                    - p.distance_click_per_10km * near / 10.0)


def push_click_probability(ops, world: World, tr, send_hour, recent_pushes, act, pair_hit, category_hit,
                           distance_km):
    """P(click) = P(open) × P(click | open)."""
    return push_open_probability(ops, world, tr, send_hour, recent_pushes, act) * push_click_given_open(
        ops, world, pair_hit, category_hit, distance_km)


# ---------------------------------------------------------------- promos
def promo_redeem_probability(ops, world: World, tr, segment_shift, discount_pct, voucher_value, min_spend):
    """P(redeem | offered): segment (new/active/churned for the merchant) + discount × sensitivity − min spend."""
    p = world.config.promos
    discount = discount_pct / 100.0 + voucher_value / 50.0
    return _sigmoid(
        ops,
        p.redeem_logit + segment_shift + p.discount_coef * tr["discount_sensitivity"] * discount
        + p.min_spend_coef * min_spend,
    )


def segment_shifts(world: World) -> np.ndarray:
    """Logit shift per segment index (0 new, 1 active, 2 churned)."""
    s = world.config.promos.segment_shift
    return np.array([s["new"], s["active"], s["churned"]])


# ---------------------------------------------------------------- coupons
def coupon_convert_probability(world: World, coupon_type: np.ndarray, threshold: np.ndarray, level):
    """P(convert within 30 days) for coupon ``level``: sure things, persuadables, lost causes, sleeping dogs."""
    from sendopt.world.traits import COUPON_TYPES

    c = world.config.coupons
    base = np.array([c.base_convert[t] for t in COUPON_TYPES])[coupon_type]
    top = np.array([c.max_convert[t] for t in COUPON_TYPES])[coupon_type]
    level = np.asarray(level, dtype=float)
    response = np.where(level > 0, 1.0 / (1.0 + np.exp(-4.0 * (level / threshold - 1.0))), 0.0)
    return base + (top - base) * response


def coupon_expected_value(world: World, value_log_mu: np.ndarray) -> np.ndarray:
    """Expected 90-day gross value of a converted user."""
    s = world.config.coupons.value_log_sigma
    return np.exp(value_log_mu + 0.5 * s * s)


# ---------------------------------------------------------------- Spark helpers for evaluation
def trait_columns(df: DataFrame) -> dict[str, Column]:
    """Trait columns of a DataFrame joined with ``truth.user_traits``, keyed for the functions above."""
    return {c: F.col(c) for c in df.columns}


def _day_column(world: World, date_col: str) -> Column:
    return F.datediff(F.col(date_col), F.lit(world.config.start_date)).cast("double")


def week_season_column(world: World, day: Column, horizon_weeks: int = 160) -> Column:
    """log of the mean demand multiplier of the world-week containing ``day`` (a lookup table)."""
    table = np.log(world.week_season(np.arange(horizon_weeks)))
    week = F.floor(day / 7).cast("int")
    bounded = F.least(F.greatest(week, F.lit(0)), F.lit(horizon_weeks - 1))
    return F.element_at(F.array(*[F.lit(float(v)) for v in table]), bounded + 1)


def with_expected_email_outcomes(
    df: DataFrame, world: World, k_col: str, date_col: str, k_prev_col: str | None = None
) -> DataFrame:
    """Add ``true_p_purchase``, ``true_p_unsubscribe``, ``true_p_no_action``, ``true_expected_revenue``.

    ``df`` holds one row per user-week (or user-decision) joined with ``truth.user_traits``;
    ``k_col`` is the weekly email frequency, ``date_col`` a date inside that week.
    """
    tr = trait_columns(df)
    day = _day_column(world, date_col)
    k = F.col(k_col).cast("double")
    k_prev = F.col(k_prev_col).cast("double") if k_prev_col else k
    act = activity(SPARK, world, F.col("decay_start"), F.floor(day / 7) * 7 + 3)
    p_buy, p_unsub = email_probabilities(SPARK, world, tr, k, k_prev, week_season_column(world, day), act,
                                         F.floor(day / 7) * 7)
    return (
        df.withColumn("true_p_purchase", p_buy)
        .withColumn("true_p_unsubscribe", p_unsub)
        .withColumn("true_p_no_action", 1.0 - F.col("true_p_purchase") - F.col("true_p_unsubscribe"))
        .withColumn("true_expected_revenue", F.col("true_p_purchase") * expected_purchase_value(SPARK, world, tr))
    )


def with_expected_push_outcomes(
    df: DataFrame, world: World, hour_col: str, date_col: str, recent_col: str | None = None,
    pair_col: str | None = None, category_col: str | None = None, distance_col: str | None = None,
) -> DataFrame:
    """Add ``true_p_open``, ``true_p_click_given_open`` and ``true_p_click`` for push rows joined with
    ``truth.user_traits``; the relevance columns (0/1 hits, km from home) default to irrelevant at 0 km."""
    tr = trait_columns(df)
    day = _day_column(world, date_col)

    def num(c):
        return F.col(c).cast("double") if c else F.lit(0.0)

    act = activity(SPARK, world, F.col("decay_start"), day)
    p_open = push_open_probability(SPARK, world, tr, F.col(hour_col).cast("double"), num(recent_col), act)
    given = push_click_given_open(SPARK, world, num(pair_col), num(category_col), num(distance_col))
    return (df.withColumn("true_p_open", p_open).withColumn("true_p_click_given_open", given)
            .withColumn("true_p_click", F.col("true_p_open") * F.col("true_p_click_given_open")))


def with_expected_promo_redemption(df: DataFrame, world: World, segment_col: str = "segment") -> DataFrame:
    """Add ``true_p_redeem`` for (user, promo) rows with discount_pct, voucher_value, min_spend and a segment."""
    tr = trait_columns(df)
    shifts = dict(zip(("new", "active", "churned"), segment_shifts(world), strict=False))
    shift = F.coalesce(
        *[F.when(F.col(segment_col) == s, F.lit(float(v))) for s, v in shifts.items()], F.lit(float(shifts["new"]))
    )
    p = promo_redeem_probability(
        SPARK, world, tr, shift, F.col("discount_pct").cast("double"), F.col("voucher_value"), F.col("min_spend")
    )
    return df.withColumn("true_p_redeem", p)

