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
PROMO_SEGMENTS = ("new", "active", "churned")


def promo_sensitivity(world: World, discount_sensitivity, region, device):
    """Effective discount sensitivity in (0, 1): the latent trait shifted by region and device priors, so a
    customer with no history responds like the population of their region and device."""
    from sendopt.world.traits import DEVICES

    p = world.config.promos
    shift = (np.array([p.sensitivity_region_shift.get(r, 0.0) for r in world.region_names])[region]
             + np.array([p.sensitivity_device_shift.get(d, 0.0) for d in DEVICES])[device])
    s = np.clip(discount_sensitivity, 1e-9, 1 - 1e-9)
    return 1.0 / (1.0 + np.exp(-(np.log(s / (1 - s)) + shift)))


def promo_strength(world: World, merchant, discount_pct, voucher_value):
    """Offer strength x = discount share + voucher / the merchant MCC's median basket, capped."""
    median = world.mcc_median_amount[world.merchant_mcc[merchant]]
    x = np.asarray(discount_pct, dtype=float) / 100.0 + np.asarray(voucher_value, dtype=float) / median
    return np.minimum(x, world.config.promos.max_strength)


def promo_redeem_probability(world: World, strength, sensitivity):
    """P(a usable order that would have happened anyway is paid with the promo): the subsidy."""
    p = world.config.promos
    logit = p.redeem_logit + p.redeem_sensitivity_coef * sensitivity + p.redeem_strength_coef * strength
    return np.where(strength > 0, 1.0 / (1.0 + np.exp(-logit)), 0.0)


def promo_lift(world: World, segment, strength, sensitivity):
    """Incremental orders per expected payment at the merchant's MCC, for a usable offer.

    sensitivity · lift_max[segment] · a logistic response in the offer strength centred on
    lift_midpoint[segment], rescaled to 0 at strength 0: new customers need a strong offer, churned a
    medium one, active customers barely respond (they order anyway)."""
    p = world.config.promos
    top = np.array([p.lift_max[s] for s in PROMO_SEGMENTS])[segment]
    mid = np.array([p.lift_midpoint[s] for s in PROMO_SEGMENTS])[segment]
    k = p.lift_steepness
    zero = 1.0 / (1.0 + np.exp(k * mid))
    response = (1.0 / (1.0 + np.exp(-k * (strength - mid))) - zero) / (1.0 - zero)
    return sensitivity * top * np.maximum(response, 0.0)


def lognormal_tail(mu, sigma: float, a):
    """(P(A ≥ a), E[A·1{A ≥ a}]) for A ~ lognormal(mu, sigma); a = 0 gives (1, E[A]), a = ∞ gives (0, 0)."""
    from scipy.special import ndtr

    with np.errstate(divide="ignore"):
        la = np.log(np.asarray(a, dtype=float))
    z = (mu - la) / sigma
    return ndtr(z), np.exp(mu + 0.5 * sigma * sigma) * ndtr(z + sigma)


def promo_basket_moments(world: World, mu, discount_pct, voucher_value, min_spend) -> dict[str, np.ndarray]:
    """Per-order moments of a design for a customer whose basket is lognormal(mu, cards.amount_sigma).

    An order is usable when its basket A ≥ near_share·min_spend; a usable A < min_spend is topped up to it;
    the discount on basket b = max(A, min_spend) is min(b, pct·b + voucher). Returns ``usable`` P(usable),
    ``mean`` E[A], ``basket`` E[b·1{usable}], ``topup`` E[(b − A)·1{usable}], ``discount`` E[D(b)·1{usable}]."""
    sigma = world.config.cards.amount_sigma
    pct = np.asarray(discount_pct, dtype=float) / 100.0
    v = np.asarray(voucher_value, dtype=float)
    m = np.asarray(min_spend, dtype=float)
    c = world.config.promos.near_share * m
    p_c, e_c = lognormal_tail(mu, sigma, c)
    p_m, e_m = lognormal_tail(mu, sigma, m)
    mean = np.exp(mu + 0.5 * sigma * sigma)
    basket = m * (p_c - p_m) + e_m
    with np.errstate(divide="ignore", invalid="ignore"):
        t = np.where(pct < 1.0, v / np.maximum(1.0 - pct, 1e-12), np.inf)  # D(b) = b below t, pct·b + v above
    t = np.maximum(t, m)
    p_t, e_t = lognormal_tail(mu, sigma, t)
    below_m = np.minimum(m, m * pct + v) * (p_c - p_m)
    discount = below_m + (e_m - e_t) + pct * e_t + v * p_t
    return {"usable": p_c, "mean": mean, "basket": basket, "topup": basket - e_c, "discount": discount}


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
