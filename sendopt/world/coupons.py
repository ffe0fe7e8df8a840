"""Randomized coupon trial for users who sign up inside the window.

Each new user gets a coupon level drawn uniformly from ``coupons.levels``
(0 = control), so the trial identifies every level's effect. The true effect
is heterogeneous by latent type (sure things convert anyway, persuadables only
above their threshold, lost causes never, sleeping dogs less with a coupon);
``truth.coupon_effects`` holds the exact probabilities.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from sendopt.world import truth
from sendopt.world.model import World
from sendopt.world.traits import user_traits

COUPONS_SCHEMA = "idx long, day int, level double, prob double, converted boolean, converted_day int, value double"
EFFECTS_SCHEMA = "idx long, level double, p_convert double, expected_value double, effect_convert double, effect_value double"


def coupon_rows(world: World, batch: pd.DataFrame) -> pd.DataFrame:
    rng, c = world.rng, world.config.coupons
    tr = user_traits(world, batch["idx"].to_numpy(np.int64))
    u = np.nonzero(tr["is_new"])[0]
    key = tr["idx"][u]
    levels = np.asarray(c.levels)
    level = levels[rng.integers("coupon.level", len(levels), key)]
    p = truth.coupon_convert_probability(world, tr["coupon_type"][u], tr["coupon_threshold"][u], level)
    converted = rng.uniform("coupon.convert", key) < p
    value = np.where(
        converted, np.exp(tr["value_log_mu"][u] + c.value_log_sigma * rng.normal("coupon.value", key)), 0.0
    )
    signup = tr["signup_day"][u]
    return pd.DataFrame({
        "idx": key, "day": signup, "level": level, "prob": 1.0 / len(levels), "converted": converted,
        "converted_day": np.where(converted, signup + rng.integers("coupon.day", 30, key), -1),
        "value": np.round(value, 2),
    })


def effect_rows(world: World, batch: pd.DataFrame) -> pd.DataFrame:
    """``truth.coupon_effects``: every trial user × every level."""
    tr = user_traits(world, batch["idx"].to_numpy(np.int64))
    u = np.nonzero(tr["is_new"])[0]
    levels = np.asarray(world.config.coupons.levels)
    uu = np.repeat(u, len(levels))
    lv = np.tile(levels, len(u))
    p = truth.coupon_convert_probability(world, tr["coupon_type"][uu], tr["coupon_threshold"][uu], lv)
    p0 = truth.coupon_convert_probability(world, tr["coupon_type"][uu], tr["coupon_threshold"][uu], 0.0)
    value = truth.coupon_expected_value(world, tr["value_log_mu"][uu])
    return pd.DataFrame({
        "idx": tr["idx"][uu], "level": lv, "p_convert": p, "expected_value": p * value,
        "effect_convert": p - p0, "effect_value": (p - p0) * value,
    })
