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

from sendopt.world import traits as T
from sendopt.world import truth
from sendopt.world.model import World
from sendopt.world.traits import ACQUISITION_CHANNELS, user_traits

COUPONS_SCHEMA = ("idx long, day int, level double, prob double, converted boolean, converted_day int, "
                  "value double, cost double")
OBSERVATIONAL_SCHEMA = "idx long, day int, level double, converted boolean, converted_day int, value double, cost double"
SIGNUPS_SCHEMA = "idx long, day int, acquisition int, pages int, add_to_cart boolean"
EFFECTS_SCHEMA = ("idx long, population int, level double, p_convert double, expected_value double, "
                  "expected_cost double, effect_convert double, effect_value double, net_effect double, "
                  "net_effect_given_x double, expected_cost_given_x double")
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
    """Every customer ``u`` × every level: true P(convert), expected value and cost, effects vs level 0,
    and the net effect and cost a model could know at best, given the signup observables only."""
    levels = np.asarray(world.config.coupons.levels)
    uu = np.repeat(u, len(levels))
    lv = np.tile(levels, len(u))
    p = truth.coupon_convert_probability(world, tr["coupon_type"][uu], tr["coupon_threshold"][uu], lv)
    p0 = truth.coupon_convert_probability(world, tr["coupon_type"][uu], tr["coupon_threshold"][uu], 0.0)
    value = truth.coupon_expected_value(world, tr["value_log_mu"][uu])
    cost = p * lv
    given_x = effects_given_observables(world, tr, u)
    return {"row": uu, "level": lv, "p_convert": p, "expected_value": p * value, "expected_cost": cost,
            "effect_convert": p - p0, "effect_value": (p - p0) * value, "net_effect": (p - p0) * value - cost,
            "net_effect_given_x": given_x["net"].reshape(-1), "expected_cost_given_x": given_x["cost"].reshape(-1)}


# ---------------------------------------------------------------- what the observables tell
def _value_factor_given_first_session(world: World, nodes: int = 64) -> np.ndarray:
    """E[exp(VALUE_PURCHASE_LOADING·z_buy) | capped pages, add-to-cart], shape (PAGES_CAP + 1, 2).

    The purchase latent z_buy is hidden but shifts both the first session (pages through the
    engagement latent, add-to-cart directly) and the value; this integrates it out exactly on a
    Gauss–Hermite grid over (z_buy, engagement noise)."""
    from scipy.stats import poisson

    rho = world.config.traits.engagement_corr
    x, w = np.polynomial.hermite_e.hermegauss(nodes)
    w = w / w.sum()
    z, e = np.meshgrid(x, x, indexing="ij")
    wz = np.outer(w, w)
    lam = T.PAGES_MEAN * np.exp(T.PAGES_ENGAGEMENT * (rho * z + np.sqrt(1 - rho**2) * e) + T.PAGES_OFFSET)
    out = np.ones((T.PAGES_CAP + 1, 2))
    for n in range(1, T.PAGES_CAP + 1):  # pages = 1 + Poisson(λ), capped
        pn = poisson.pmf(n - 1, lam) if n < T.PAGES_CAP else poisson.sf(n - 2, lam)
        p_cart = 1.0 / (1.0 + np.exp(-(T.CART_LOGIT[0] + T.CART_LOGIT[1] * z + T.CART_LOGIT[2] * (n - 5))))
        for c, pc in ((0, 1 - p_cart), (1, p_cart)):
            weight = wz * pn * pc
            out[n, c] = (weight * np.exp(T.VALUE_PURCHASE_LOADING * z)).sum() / weight.sum()
    return out


def effects_given_observables(world: World, tr, u: np.ndarray) -> dict[str, np.ndarray]:
    """E[net effect | X] and E[cost | X] per customer ``u`` × level (shape len(u) × levels).

    X = (acquisition channel, pages, add-to-cart, device, age band, market): type and threshold are
    drawn from P(·|X), the value's hidden purchase latent is integrated out — the best any model of
    the observables can know, so the allocation by it is the fair ceiling of a learned policy."""
    levels = np.asarray(world.config.coupons.levels)
    acq, pages = tr["acquisition_channel"][u], np.minimum(tr["first_session_pages"][u], T.PAGES_CAP)
    cart, band, device = tr["first_session_add_to_cart"][u], tr["age_band"][u], tr["device"][u]
    p_type = T.coupon_type_probabilities(world, acq, pages, cart, band, device)
    p_thr = T.coupon_threshold_probabilities(world, acq, pages, band, device)
    value = (truth.coupon_expected_value(world, T.coupon_value_observable(world, acq, pages, tr["market"][u]))
             * _value_factor_given_first_session(world)[pages, cart.astype(int)])
    net, cost = np.zeros((len(u), len(levels))), np.zeros((len(u), len(levels)))
    for t in range(p_type.shape[1]):
        ty = np.full(len(u), t)
        for j in range(p_thr.shape[1]):
            thr = np.full(len(u), levels[1 + j])
            weight = p_type[:, t] * p_thr[:, j]
            p0 = truth.coupon_convert_probability(world, ty, thr, 0.0)
            for k, level in enumerate(levels):
                pk = truth.coupon_convert_probability(world, ty, thr, level)
                net[:, k] += weight * ((pk - p0) * value - pk * level)
                cost[:, k] += weight * pk * level
    return {"net": net, "cost": cost}


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
    """Per coupon level: the share of the variance of the true net effect τ (incremental expected
    value − expected cost) that the signup observables explain, Var(E[τ|X]) / Var(τ) — the learnable
    ceiling. E[τ|X] is exact (``effects_given_observables``); ``users`` sets only the sample."""
    tr = user_traits(world, np.arange(users, dtype=np.int64))
    u = np.arange(users)
    levels = np.asarray(world.config.coupons.levels)
    given_x = effects_given_observables(world, tr, u)["net"]
    value = truth.coupon_expected_value(world, tr["value_log_mu"])
    p0 = truth.coupon_convert_probability(world, tr["coupon_type"], tr["coupon_threshold"], 0.0)
    out = {}
    for k, level in enumerate(levels[1:], start=1):
        p = truth.coupon_convert_probability(world, tr["coupon_type"], tr["coupon_threshold"], level)
        tau = (p - p0) * value - p * level
        out[float(level)] = {"var_true": float(tau.var()), "var_explained": float(given_x[:, k].var()),
                             "share": float(given_x[:, k].var() / tau.var()), "mean_effect": float(tau.mean()),
                             "mean_given_x": float(given_x[:, k].mean())}
    return out
