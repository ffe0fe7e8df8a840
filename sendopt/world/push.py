"""Push notifications under a logging policy, with opens and clicks from the true response.

Historical policy: each opted-in user-day gets a push with probability
``push.per_day`` at a uniformly random hour in ``push.hours``, from a random
strategy promoting a random store of the user's region. Uniform hours and
strategies make the log usable for learning send time and fatigue: the open
probability rises when the hour matches the user's preferred hour and falls
with the number of pushes in the previous 7 days.

In ``simulate-outcomes`` the batch carries the day's decided pushes
(``push_hour`` ≥ 0) and the recent-push count read from the lake.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from sendopt.world import truth
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
    clicked = opened & (rng.uniform("push.click", key, days[None, :]) < cfg.click_given_open)
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
