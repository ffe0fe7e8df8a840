"""Latent and observable per-user attributes, as a pure function of the user index.

Every generator recomputes these for its batch of users (cheap, vectorised),
so tables never need a join to learn a user's market or traits, and the
truth table ``truth.user_traits`` is exactly what the generators used.
Latents are correlated with each other and with the observable demographics
only partly, so models must infer them from behaviour.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from sendopt.world.model import World
from sendopt.world.rng import sigmoid

COUPON_TYPES = ("sure_thing", "persuadable", "lost_cause", "sleeping_dog")
DEVICES = ("ios", "android", "web")
GENDERS = ("female", "male", "other")
ACQUISITION_CHANNELS = ("organic", "paid_social", "search", "referral", "affiliate")
AGE_BANDS = (25, 35, 50)  # band edges: <25, 25-34, 35-49, 50+
# first session: pages = 1 + Poisson(PAGES_MEAN·exp(PAGES_ENGAGEMENT·z_eng + PAGES_OFFSET)); add-to-cart
# logit = CART_LOGIT[0] + CART_LOGIT[1]·z_buy + CART_LOGIT[2]·(min(pages, PAGES_CAP) − 5)
PAGES_MEAN, PAGES_ENGAGEMENT, PAGES_OFFSET, PAGES_CAP = 4.0, 0.3, -0.045, 15
CART_LOGIT = (-1.2, 0.5, 0.1)
VALUE_PURCHASE_LOADING = 0.4  # log 90-day value per unit of the purchase latent z_buy


def age_band(age: np.ndarray) -> np.ndarray:
    """0: under 25, 1: 25–34, 2: 35–49, 3: 50 and over (what birth_year tells at signup)."""
    return np.searchsorted(np.asarray(AGE_BANDS), np.asarray(age), side="right")


def coupon_type_probabilities(world: World, acq: np.ndarray, pages: np.ndarray, cart: np.ndarray,
                              band: np.ndarray, device: np.ndarray) -> np.ndarray:
    """P(coupon type | signup observables), rows × len(COUPON_TYPES): a softmax around ``type_shares``.

    Observables (``observable_strength`` s scales them): add-to-cart, many first-session pages and
    referrals make sure things; paid social, search and the young make persuadables; affiliates, short
    sessions and no cart make lost causes; organic signups, 50+ and iOS lean to sleeping dogs.
    """
    c = world.config.coupons
    s = c.observable_strength
    ch = {name: (acq == i).astype(float) for i, name in enumerate(ACQUISITION_CHANNELS)}
    cart = cart.astype(float)
    p5 = np.clip(pages, 1, 15) - 5.0
    logits = np.log(np.array([c.type_shares[t] for t in COUPON_TYPES]))[None, :] + s * np.stack([
        1.5 * cart + 0.12 * p5 + 0.8 * ch["referral"] - 0.4 * ch["paid_social"],
        0.9 * ch["paid_social"] + 0.6 * ch["search"] + 0.6 * (band == 0) + 0.3 * (band == 1) - 0.3 * cart,
        -0.15 * p5 + 1.0 * ch["affiliate"] - 1.2 * cart,
        0.9 * ch["organic"] + 0.8 * (band == 3) + 0.4 * (device == 0) - 0.5 * ch["paid_social"],
    ], axis=1)
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def coupon_threshold_probabilities(world: World, acq: np.ndarray, pages: np.ndarray, band: np.ndarray,
                                   device: np.ndarray) -> np.ndarray:
    """P(threshold = levels[1+j] | observables): web signups and short sessions need more, the young less."""
    c = world.config.coupons
    n = len(c.levels) - 1
    theta = c.observable_strength * (0.7 * (device == 2) - 0.7 * (band == 0) + 0.5 * (np.asarray(pages) <= 2)
                                     - 0.4 * (acq == ACQUISITION_CHANNELS.index("referral")))
    logits = theta[:, None] * (np.arange(n)[None, :] - (n - 1) / 2.0)
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def coupon_value_observable(world: World, acq: np.ndarray, pages: np.ndarray, market: np.ndarray) -> np.ndarray:
    """The part of a converter's log 90-day value that the signup observables fix (all but the
    purchase latent): base, market spend shift, and s·(pages, referral, affiliate)."""
    cc = world.config.coupons
    ref = (acq == ACQUISITION_CHANNELS.index("referral")).astype(float)
    aff = (acq == ACQUISITION_CHANNELS.index("affiliate")).astype(float)
    return (cc.value_log_mu + world.markets.spend_shift[market]
            + cc.observable_strength * (0.04 * (np.minimum(pages, PAGES_CAP) - 5) + 0.3 * ref - 0.2 * aff))


def _draw_rows(u: np.ndarray, probs: np.ndarray) -> np.ndarray:
    """Per row, the index drawn with ``probs[row]`` by one uniform."""
    return np.minimum((u[:, None] >= np.cumsum(probs, axis=1)).sum(axis=1), probs.shape[1] - 1)


def user_traits(world: World, idx: np.ndarray) -> dict[str, np.ndarray]:
    """All attributes of users ``idx`` (int64 array) as named arrays."""
    cfg, t, rng = world.config, world.config.traits, world.rng
    mk = world.markets
    idx = np.asarray(idx, dtype=np.int64)
    market = rng.choice("user.market", mk.weights, idx)
    region = np.array([world.region_names.index(r) for r in mk.regions])[market]

    # signup: most users existed before the window, a share arrive inside it
    is_new = rng.uniform("user.new", idx) < cfg.new_user_share
    signup_day = np.where(
        is_new,
        rng.integers("user.signup_in", cfg.days, idx),
        -1 - np.minimum(rng.exponential("user.signup_before", idx, mean=t.signup_age_mean_days),
                        t.signup_age_max_days).astype(np.int64),
    )

    z_buy = rng.normal("user.z_buy", idx)
    z_eng = t.engagement_corr * z_buy + np.sqrt(1 - t.engagement_corr**2) * rng.normal("user.z_eng", idx)
    z_fat = rng.normal("user.z_fatigue", idx)
    age = np.clip(t.age_min + rng.exponential("user.age", idx, mean=t.age_mean_excess), t.age_min,
                  t.age_max).astype(np.int64)
    age_effect = -t.age_purchase_slope * (age - t.age_pivot)  # older customers buy a little less, open a little more

    # engagement decays into inactivity: remaining active life is memoryless (exponential)
    life = rng.exponential("user.life", idx, mean=t.mean_active_days)
    dormant = (~is_new) & (rng.uniform("user.dormant", idx) < t.dormant_share)
    decay_start = np.where(is_new, signup_day + life, np.where(dormant, -life * 0.25, life))

    low, high = t.preferred_hour_range
    preferred_hour = np.clip(np.round(t.preferred_hour_mean + t.preferred_hour_sd * rng.normal("user.hour", idx)),
                             low, high).astype(np.int64)
    device = np.where(
        rng.uniform("user.ios", idx) < mk.ios_share[market],
        0,
        np.where(rng.uniform("user.android", idx) < 0.8, 1, 2),
    )
    # what the lake records at signup and in the first session (raw.signup_sessions)
    cc = cfg.coupons
    acq = rng.choice("user.acquisition", [cc.acquisition_shares[a] for a in ACQUISITION_CHANNELS], idx)
    pages = 1 + rng.poisson("user.first_pages", PAGES_MEAN * np.exp(PAGES_ENGAGEMENT * z_eng + PAGES_OFFSET), idx)
    cart = rng.uniform("user.first_cart", idx) < sigmoid(
        CART_LOGIT[0] + CART_LOGIT[1] * z_buy + CART_LOGIT[2] * (np.minimum(pages, PAGES_CAP) - 5))
    band = age_band(age)
    coupon_type = _draw_rows(rng.uniform("user.coupon_type", idx),
                             coupon_type_probabilities(world, acq, pages, cart, band, device))
    threshold_ix = _draw_rows(rng.uniform("user.coupon_threshold", idx),
                              coupon_threshold_probabilities(world, acq, pages, band, device))
    return {
        "idx": idx,
        "market": market,
        "region": region,
        "is_new": is_new,
        "signup_day": signup_day,
        "exploration": rng.uniform("user.explore", idx) < cfg.exploration_share,
        "age": age,
        "gender": rng.choice("user.gender", [0.49, 0.49, 0.02], idx),
        "device": device,
        "home_lat": mk.centre_lat[market] + cfg.merchants.store_spread_deg * rng.normal("user.lat", idx),
        "home_lon": mk.centre_lon[market] + cfg.merchants.store_spread_deg * rng.normal("user.lon", idx),
        "purchase_logit": t.purchase_logit + mk.purchase_shift[market] + t.purchase_sd * z_buy - age_effect,
        "email_uplift": t.email_uplift_mean * np.exp(t.email_uplift_sd * rng.normal("user.uplift", idx) - 0.125),
        "saturation": t.saturation_mean * np.exp(0.4 * rng.normal("user.saturation", idx)),
        "unsubscribe_logit": t.unsubscribe_logit + mk.unsubscribe_shift[market] + t.unsubscribe_sd * z_fat,
        "fatigue_slope": t.fatigue_slope_mean
        * np.exp(t.fatigue_slope_sd * (0.7 * z_fat + 0.71 * rng.normal("user.fatigue", idx)) - 0.08),
        "open_prob": sigmoid(t.open_logit + t.open_sd * z_eng + age_effect),
        "click_prob": sigmoid(t.click_logit + 0.6 * z_buy),
        "spend_log_mu": t.spend_log_mu + mk.spend_shift[market] + t.spend_log_sd * rng.normal("user.spend", idx),
        "decay_start": decay_start,
        "favourite_category": rng.integers("user.category", len(cfg.categories), idx),
        "web_rate": cfg.web.sessions_per_day * np.exp(0.6 * z_eng + 0.3 * z_buy - 0.2),
        "card_holder": rng.uniform("user.card", idx) < cfg.cards.holder_share,
        "card_rate": cfg.cards.tx_per_day * np.exp(0.5 * rng.normal("user.card_rate", idx) - 0.125),
        "email_opt_in": rng.uniform("user.email_in", idx) < cfg.email.opt_in_share,
        "push_opt_in": rng.uniform("user.push_in", idx) < cfg.push.opt_in_share,
        "push_opt_out_day": np.where(
            rng.uniform("user.push_out", idx) < cfg.push.opt_out_share,
            rng.integers("user.push_out_day", cfg.days, idx),
            np.iinfo(np.int64).max // 4,
        ),
        "push_logit": cfg.push.open_logit + 0.8 * z_eng + 0.5 * rng.normal("user.push", idx),
        "preferred_hour": preferred_hour,
        "discount_sensitivity": sigmoid(1.2 * rng.normal("user.discount", idx) - 0.3 * z_buy),
        "acquisition_channel": acq,
        "first_session_pages": pages,
        "first_session_add_to_cart": cart,
        "age_band": band,
        "coupon_type": coupon_type,
        "coupon_threshold": np.asarray(cfg.coupons.levels)[1 + threshold_ix],
        "value_log_mu": coupon_value_observable(world, acq, pages, market) + VALUE_PURCHASE_LOADING * z_buy,
    }



TRAITS_SCHEMA = (
    "idx long, market int, exploration boolean, signup_day int, purchase_logit double, email_uplift double, "
    "saturation double, unsubscribe_logit double, fatigue_slope double, open_prob double, click_prob double, "
    "spend_log_mu double, decay_start double, favourite_category int, web_rate double, card_holder boolean, "
    "card_rate double, push_logit double, preferred_hour int, discount_sensitivity double, coupon_type int, "
    "coupon_threshold double, value_log_mu double"
)


def traits_rows(world: World, batch: pd.DataFrame) -> pd.DataFrame:
    """``truth.user_traits`` rows: the latents above, as the generators used them."""
    tr = user_traits(world, batch["idx"].to_numpy(np.int64))
    names = [c.split()[0] for c in TRAITS_SCHEMA.split(", ")]
    return pd.DataFrame({n: tr[n] for n in names})
