"""Coupons for new customers: the signup record, an observational period and the randomized trial.

* ``raw.signup_sessions``: what the lake records at signup and in the first session (acquisition
  channel, pages viewed, add-to-cart) for every customer who signed up inside the window or in the
  ``observational_days`` before it. With device, age band and market (``raw.customers``) these are
  the pre-treatment observables the coupon response depends on (``traits.coupon_type_probabilities``).
* ``raw.coupon_observational``: signups of the ``observational_days`` before the window got a level
  from a business rule on those observables (``observational_noise`` of them a uniform level);
  no propensity is logged — confounded on purpose.
* ``raw.coupon_assignments``: each new user inside the window gets a level drawn uniformly from
  ``coupons.levels`` (0 = control), so the trial identifies every level's effect.

Outcomes: conversion within 30 days, gross 90-day value, and the coupon's cost — its face value,
paid when a converted customer redeems it. ``truth.coupon_effects`` holds the exact probabilities,
expected value and expected cost of every trial and observational customer under every level.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from sendopt.world import truth
from sendopt.world.model import World
from sendopt.world.traits import ACQUISITION_CHANNELS, coupon_threshold_probabilities, user_traits

COUPONS_SCHEMA = ("idx long, day int, level double, prob double, converted boolean, converted_day int, "
                  "value double, cost double")
OBSERVATIONAL_SCHEMA = "idx long, day int, level double, converted boolean, converted_day int, value double, cost double"
SIGNUPS_SCHEMA = "idx long, day int, acquisition int, pages int, add_to_cart boolean"
EFFECTS_SCHEMA = ("idx long, population int, level double, p_convert double, expected_value double, "
                  "expected_cost double, effect_convert double, effect_value double, net_effect double")
POPULATIONS = ("trial", "observational")


def _in_trial(world: World, tr) -> np.ndarray:
    return tr["is_new"]


def _in_observational(world: World, tr) -> np.ndarray:
    d = world.config.coupons.observational_days
    return (~tr["is_new"]) & (tr["signup_day"] >= -d) & (tr["signup_day"] < 0)


def business_rule_level(world: World, tr, u: np.ndarray) -> np.ndarray:
    """The observational period's rule: add-to-cart → none; web signups → the top level; paid social or
    search → the second-highest; everyone else (affiliates, organic…) → the lowest coupon."""
    levels = np.asarray(world.config.coupons.levels)
    acq = tr["acquisition_channel"][u]
    paid = (acq == ACQUISITION_CHANNELS.index("paid_social")) | (acq == ACQUISITION_CHANNELS.index("search"))
    return np.where(tr["first_session_add_to_cart"][u], levels[0],
                    np.where(tr["device"][u] == 2, levels[-1],
                             np.where(paid, levels[max(len(levels) - 2, 0)], levels[min(1, len(levels) - 1)])))


def _outcomes(world: World, tr, u: np.ndarray, level: np.ndarray) -> dict[str, np.ndarray]:
    rng, c = world.rng, world.config.coupons
    key = tr["idx"][u]
    p = truth.coupon_convert_probability(world, tr["coupon_type"][u], tr["coupon_threshold"][u], level)
    converted = rng.uniform("coupon.convert", key) < p
    value = np.where(
        converted, np.exp(tr["value_log_mu"][u] + c.value_log_sigma * rng.normal("coupon.value", key)), 0.0
    )
    signup = tr["signup_day"][u]
    return {
        "idx": key, "day": signup, "level": level, "converted": converted,
        "converted_day": np.where(converted, signup + rng.integers("coupon.day", 30, key), -1),
        "value": np.round(value, 2), "cost": np.where(converted, level, 0.0),  # face value when redeemed
    }


def coupon_rows(world: World, batch: pd.DataFrame) -> pd.DataFrame:
    """``raw.coupon_assignments``: the randomized trial (uniform level, probability logged)."""
    tr = user_traits(world, batch["idx"].to_numpy(np.int64))
    u = np.nonzero(_in_trial(world, tr))[0]
    levels = np.asarray(world.config.coupons.levels)
    level = levels[world.rng.integers("coupon.level", len(levels), tr["idx"][u])]
    out = _outcomes(world, tr, u, level)
    out["prob"] = np.full(len(u), 1.0 / len(levels))
    return pd.DataFrame(out)[[c.split()[0] for c in COUPONS_SCHEMA.split(", ")]]


def observational_levels(world: World, tr, u: np.ndarray) -> np.ndarray:
    levels = np.asarray(world.config.coupons.levels)
    key = tr["idx"][u]
    noisy = world.rng.uniform("coupon.obs_noise", key) < world.config.coupons.observational_noise
    return np.where(noisy, levels[world.rng.integers("coupon.obs_level", len(levels), key)],
                    business_rule_level(world, tr, u))


def observational_rows(world: World, batch: pd.DataFrame) -> pd.DataFrame:
    """``raw.coupon_observational``: the business-rule period before the window (no propensity)."""
    tr = user_traits(world, batch["idx"].to_numpy(np.int64))
    u = np.nonzero(_in_observational(world, tr))[0]
    out = _outcomes(world, tr, u, observational_levels(world, tr, u))
    return pd.DataFrame(out)[[c.split()[0] for c in OBSERVATIONAL_SCHEMA.split(", ")]]


def signup_rows(world: World, batch: pd.DataFrame) -> pd.DataFrame:
    """``raw.signup_sessions``: the signup record of trial and observational customers."""
    tr = user_traits(world, batch["idx"].to_numpy(np.int64))
    u = np.nonzero(_in_trial(world, tr) | _in_observational(world, tr))[0]
    return pd.DataFrame({
        "idx": tr["idx"][u], "day": tr["signup_day"][u], "acquisition": tr["acquisition_channel"][u],
        "pages": tr["first_session_pages"][u], "add_to_cart": tr["first_session_add_to_cart"][u],
    })


def effect_arrays(world: World, tr, u: np.ndarray) -> dict[str, np.ndarray]:
    """Every customer ``u`` × every level: true P(convert), expected value and cost, effects vs level 0."""
    levels = np.asarray(world.config.coupons.levels)
    uu = np.repeat(u, len(levels))
    lv = np.tile(levels, len(u))
    p = truth.coupon_convert_probability(world, tr["coupon_type"][uu], tr["coupon_threshold"][uu], lv)
    p0 = truth.coupon_convert_probability(world, tr["coupon_type"][uu], tr["coupon_threshold"][uu], 0.0)
    value = truth.coupon_expected_value(world, tr["value_log_mu"][uu])
    cost = p * lv
    return {"row": uu, "level": lv, "p_convert": p, "expected_value": p * value, "expected_cost": cost,
            "effect_convert": p - p0, "effect_value": (p - p0) * value, "net_effect": (p - p0) * value - cost}


def effect_rows(world: World, batch: pd.DataFrame) -> pd.DataFrame:
    """``truth.coupon_effects``: every trial and observational customer × every level."""
    tr = user_traits(world, batch["idx"].to_numpy(np.int64))
    trial, obs = _in_trial(world, tr), _in_observational(world, tr)
    u = np.nonzero(trial | obs)[0]
    a = effect_arrays(world, tr, u)
    rows = a.pop("row")
    return pd.DataFrame({"idx": tr["idx"][rows], "population": np.where(trial[rows], 0, 1), **a})


# ---------------------------------------------------------------- how learnable is the effect?
def explained_effect_share(world: World, users: int = 400_000) -> dict[float, dict[str, float]]:
    """Per coupon level: the share of the variance of the true net effect (incremental expected value −
    expected cost) that the signup observables explain, Var(E[τ|X]) / Var(τ) — the learnable ceiling.

    Computed exactly rather than by a model: type, threshold and the observable part of the value are
    functions of X = (acquisition channel, pages, add-to-cart, device, age band, market), so
    E[τ|X] = Σ_type,threshold P(type|X) P(threshold|X) Δp(type, threshold) · E[value | X]; the
    remaining noise (the type and threshold draws, the purchase latent in value) is what no model sees.
    E[value | X] is the mean over customers in the X cell (value's latent part correlates with
    add-to-cart), so ``users`` sets the precision.
    """
    tr = user_traits(world, np.arange(users, dtype=np.int64))
    c = world.config.coupons
    levels = np.asarray(c.levels)
    pages = np.minimum(tr["first_session_pages"], 15)
    x = (tr["acquisition_channel"], pages, tr["first_session_add_to_cart"].astype(int), tr["device"],
         tr["age_band"], tr["market"])
    from sendopt.world.traits import coupon_type_probabilities

    p_type = coupon_type_probabilities(world, x[0], pages, tr["first_session_add_to_cart"], x[4], x[3])
    p_thr = coupon_threshold_probabilities(world, x[0], pages, x[4], x[3])
    value = truth.coupon_expected_value(world, tr["value_log_mu"])
    cell = np.unique(np.stack(x, axis=1), axis=0, return_inverse=True)[1].reshape(-1)
    counts = np.bincount(cell)
    value_given_x = (np.bincount(cell, weights=value) / counts)[cell]
    out = {}
    for level in levels[1:]:
        dp_given_x = np.zeros(users)
        for t in range(p_type.shape[1]):
            for j in range(p_thr.shape[1]):
                thr = np.full(users, levels[1 + j])
                ty = np.full(users, t)
                dp = (truth.coupon_convert_probability(world, ty, thr, level)
                      - truth.coupon_convert_probability(world, ty, thr, 0.0))
                pc = truth.coupon_convert_probability(world, ty, thr, level)
                dp_given_x += p_type[:, t] * p_thr[:, j] * (dp * value_given_x - pc * level)
        p = truth.coupon_convert_probability(world, tr["coupon_type"], tr["coupon_threshold"], level)
        p0 = truth.coupon_convert_probability(world, tr["coupon_type"], tr["coupon_threshold"], 0.0)
        tau = (p - p0) * value - p * level
        out[float(level)] = {"var_true": float(tau.var()), "var_explained": float(dp_given_x.var()),
                             "share": float(dp_given_x.var() / tau.var()), "mean_effect": float(tau.mean())}
    return out
