"""Push notifications under a logging policy, with opens and clicks from the true response.

Historical policy: each opted-in user-day gets a push with probability
``push.per_day`` at a uniformly random hour in ``push.hours``, from a random
strategy promoting a random store of the user's region. Uniform hours and
strategies make the log usable for learning send time and fatigue: the open
probability rises when the hour matches the user's preferred hour and falls
with the number of pushes in the previous 7 days. A click given an open
depends on the promoted store (``truth.push_click_given_open``): it rises when
the store's MCC is a planted follow-up of an MCC the user paid at in the
previous ``push.relevance_days`` days, or when the store sells a category the
user browsed online in those days, and falls with the store's distance from
the user's home.

In ``simulate-outcomes`` the batch carries the day's decided pushes
(``push_hour`` ≥ 0) and the recent-push count read from the lake.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from sendopt.geo import NP as GEO_NP
from sendopt.geo import haversine_km
from sendopt.world import cards, truth, web
from sendopt.world.merchants import store_location
from sendopt.world.model import STORE_SLOTS, World
from sendopt.world.traits import user_traits

PUSH_SCHEMA = (
    "idx long, market int, day int, hour int, strategy int, merchant_id long, store_id long, policy int, "
    "sent_sec double, open_sec double, click_sec double"
)
POLICIES = ("logging", "decision")
FATIGUE_DAYS = 7


def push_rows(world: World, batch: pd.DataFrame, first_day: int, horizon: int) -> pd.DataFrame:
    rng, cfg = world.rng, world.config.push
    tr = user_traits(world, batch["idx"].to_numpy(np.int64))
    key = tr["idx"][:, None]
    days = np.arange(first_day - FATIGUE_DAYS, horizon)
    eligible = (
        tr["push_opt_in"][:, None]
        & (days[None, :] >= tr["signup_day"][:, None])
        & (days[None, :] < tr["push_opt_out_day"][:, None])
    )
    sent = eligible & (rng.uniform("push.send", key, days[None, :]) < cfg.per_day)
    hour = cfg.hours[0] + rng.integers("push.hour", cfg.hours[1] - cfg.hours[0] + 1, key, days[None, :])
    strategy = rng.integers("push.strategy", len(cfg.strategies), key, days[None, :])
    merchant = world.merchants_for(
        tr["region"][:, None], rng.choice("push.mcc", world.mcc_weights, key, days[None, :]),
        (rng.bits("push.merchant", key, days[None, :]) >> np.uint64(1)).astype(np.int64),
    )
    store = merchant * STORE_SLOTS + rng.integers("push.store", world.merchant_stores[merchant], key, days[None, :])
    policy = np.zeros(sent.shape, dtype=np.int64)
    recent = np.stack(
        [sent[:, max(0, i - FATIGUE_DAYS): i].sum(axis=1) for i in range(len(days))], axis=1
    ).astype(float)

    if "push_hour" in batch:  # simulate-outcomes: the decided pushes replace the policy on the last day
        decided = batch["push_hour"].to_numpy(np.int64)
        last = len(days) - 1
        sent[:, last] = eligible[:, last] & (decided >= 0)
        hour[:, last] = np.maximum(decided, 0)
        strategy[:, last] = batch["push_strategy"].to_numpy(np.int64)
        store[:, last] = batch["push_store"].to_numpy(np.int64)
        merchant[:, last] = store[:, last] // STORE_SLOTS
        policy[:, last] = 1
        recent[:, last] = batch["push_recent"].to_numpy(float)

    act = truth.activity(truth.NP, world, tr["decay_start"][:, None], days[None, :].astype(float))
    p_open = truth.push_open_probability(truth.NP, world, {k: v[:, None] for k, v in tr.items()}, hour, recent, act)
    opened = sent & (rng.uniform("push.open", key, days[None, :]) < p_open)
    pair_hit, category_hit = store_relevance(world, tr["idx"], days, world.merchant_mcc[merchant])
    lat, lon = store_location(world, store, world.merchant_region[merchant])
    km = haversine_km(tr["home_lat"][:, None], tr["home_lon"][:, None], lat, lon, GEO_NP)
    p_click = truth.push_click_given_open(truth.NP, world, pair_hit, category_hit, km)
    clicked = opened & (rng.uniform("push.click", key, days[None, :]) < p_click)
    sent_sec = hour * 3600.0 + 600.0 * rng.uniform("push.sec", key, days[None, :])
    open_sec = np.minimum(sent_sec + rng.exponential("push.open_s", key, days[None, :], mean=1800.0), 86_399.0)
    click_sec = np.minimum(open_sec + rng.exponential("push.click_s", key, days[None, :], mean=30.0), 86_399.0)
    keep = sent & (days[None, :] >= first_day)
    u = np.nonzero(keep)[0]
    return pd.DataFrame({
        "idx": tr["idx"][u], "market": tr["market"][u], "day": np.broadcast_to(days[None, :], keep.shape)[keep],
        "hour": hour[keep], "strategy": strategy[keep], "merchant_id": merchant[keep], "store_id": store[keep],
        "policy": policy[keep], "sent_sec": sent_sec[keep],
        "open_sec": np.where(opened[keep], open_sec[keep], np.nan),
        "click_sec": np.where(clicked[keep], click_sec[keep], np.nan),
    })


def mcc_category_index(world: World) -> np.ndarray:
    """Per MCC index: the index in ``world.categories`` its stores sell, -1 for none."""
    cats = world.config.categories
    m = world.config.push.mcc_categories
    return np.array([cats.index(m[c]) if c in m else -1 for c in world.mccs], dtype=np.int64)


def store_relevance(world: World, idx: np.ndarray, days: np.ndarray, store_mcc: np.ndarray):
    """(pair_hit, category_hit) as 0/1 arrays shaped like ``store_mcc`` (users × days).

    pair_hit: the user paid at an MCC whose planted follow-up is the store's MCC on one of the
    ``relevance_days`` days before; category_hit: the user browsed the store's category then.
    Both are recomputed from the same keyed draws as ``raw.card_transactions`` and ``raw.web_events``.
    """
    look = world.config.push.relevance_days
    d0, n_days, n_mcc = int(days[0]) - look, len(days) + look, len(world.mccs)
    row_of = pd.Index(idx)
    lags = np.arange(1, look + 1)

    def keys(rows, day, code, width):  # (row, day, code) → one int64, day shifted by every lag
        day = day[:, None] + lags[None, :]
        return ((rows[:, None] * n_days + (day - d0)) * width + code[:, None]).ravel()

    pay = cards.payments(world, idx, d0, int(days[-1]) + 1)
    prow = row_of.get_indexer(pay["idx"])
    pair_keys = [keys(prow[pay["mcc"] == s], pay["day"][pay["mcc"] == s], np.full((pay["mcc"] == s).sum(), d),
                      n_mcc) for s, d in zip(world.pair_src, world.pair_dst, strict=False)]
    rows = np.arange(len(idx))[:, None] * np.ones((1, len(days)), dtype=np.int64)
    here = (rows * n_days + (days[None, :] - d0)) * n_mcc + store_mcc
    pair_hit = np.isin(here, np.concatenate(pair_keys) if pair_keys else np.empty(0, np.int64))

    n_cat = len(world.config.categories)
    seen = web.web_rows(world, pd.DataFrame({"idx": idx}), d0, int(days[-1]) + 1)
    cat_keys = keys(row_of.get_indexer(seen["idx"].to_numpy()), seen["day"].to_numpy(np.int64),
                    seen["category"].to_numpy(np.int64), n_cat)
    cat = mcc_category_index(world)[store_mcc]
    here_cat = (rows * n_days + (days[None, :] - d0)) * n_cat + np.maximum(cat, 0)
    category_hit = (cat >= 0) & np.isin(here_cat, cat_keys)
    return pair_hit.astype(float), category_hit.astype(float)
