"""Card payments: background traffic plus planted sequential MCC pairs.

Background: each card holder pays ``card_rate`` times a day (seasonal, fading
with inactivity) at an MCC drawn from the population mix, mostly at their
usual merchant of that MCC. Planted pairs: every payment at ``mcc1`` triggers,
with probability ``strength``, a payment at ``mcc2`` 1..``window_days`` days
later. Background is drawn from ``window`` days before the first day so a day
generated alone (``simulate-outcomes``) still gets its follow-ups.
"""
from __future__ import annotations

import numpy as np

from sendopt.world import truth
from sendopt.world.merchants import store_location
from sendopt.world.model import STORE_SLOTS, World
from sendopt.world.traits import user_traits

CARDS_SCHEMA = (
    "idx long, day int, src_day int, j int, pair int, sec double, merchant_id long, store_id long, mcc int, amount double, "
    "lat double, lon double, market int, promo long"
)
#: ``pair`` of a promo-induced (incremental) order; ``promo`` is then its campaign key, else -1.
PROMO_PAIR = -2
MAX_PER_DAY = 12


def pair_lead(world: World) -> int:
    """Days before a range whose payments can still trigger planted follow-ups inside it."""
    return int(world.pair_window.max()) if len(world.pair_window) else 0


def daily_rate(world: World, tr, days: np.ndarray) -> np.ndarray:
    """Expected background payments per user (rows of ``tr``) and day: seasonal, fading with inactivity,
    zero before signup and for customers without a card."""
    act = truth.activity(truth.NP, world, tr["decay_start"][:, None], days[None, :].astype(float))
    rate = tr["card_rate"][:, None] * np.sqrt(world.season(days))[None, :] * act ** 0.3
    return np.where(tr["card_holder"][:, None] & (days[None, :] >= tr["signup_day"][:, None]), rate, 0.0)


def payments(world: World, idx: np.ndarray, first_day: int, horizon: int, tr=None) -> dict[str, np.ndarray]:
    """All payments of users ``idx`` on days [first_day, horizon) as arrays (``pair`` = -1 for background);
    ``tr`` may pass the users' traits when the caller has them."""
    rng, cfg = world.rng, world.config
    tr = user_traits(world, idx) if tr is None else tr
    days = np.arange(first_day - pair_lead(world), horizon)
    rate = daily_rate(world, tr, days)
    n = np.minimum(rng.poisson("card.count", rate, tr["idx"][:, None], days[None, :]), MAX_PER_DAY)
    u, d = np.nonzero(n)
    reps = n[u, d]
    bu, bday = np.repeat(u, reps), np.repeat(days[d], reps)
    bj = np.arange(len(bu)) - np.repeat(np.cumsum(reps) - reps, reps)
    bmcc = rng.choice("card.mcc", world.mcc_weights, tr["idx"][bu], bday, bj)

    # planted follow-ups: one candidate per (background payment, pair whose mcc1 matches)
    fu, fday, fsrc, fj, fpair, fmcc = [bu], [bday], [bday], [bj], [np.full(len(bu), -1)], [bmcc]
    for p in range(len(world.pair_src)):
        src = np.nonzero(bmcc == world.pair_src[p])[0]
        key = (tr["idx"][bu[src]], bday[src], bj[src], p)
        hit = rng.uniform("card.pair", *key) < world.pair_strength[p]
        lag = 1 + rng.integers("card.pair_lag", world.pair_window[p], *key)
        src = src[hit]
        fu.append(bu[src])
        fday.append(bday[src] + lag[hit])
        fsrc.append(bday[src])
        fj.append(bj[src])
        fpair.append(np.full(len(src), p))
        fmcc.append(np.full(len(src), world.pair_dst[p]))
    pu, pday, psrc, pj, ppair, pmcc = (np.concatenate(x) for x in (fu, fday, fsrc, fj, fpair, fmcc))
    keep = (pday >= first_day) & (pday < horizon) & (pday >= tr["signup_day"][pu])
    pu, pday, psrc, pj, ppair, pmcc = pu[keep], pday[keep], psrc[keep], pj[keep], ppair[keep], pmcc[keep]

    key = tr["idx"][pu]
    loyal = rng.uniform("card.loyal", key, psrc, pj, ppair) < cfg.cards.loyalty
    pick = np.where(loyal, rng.bits("card.home", key, pmcc), rng.bits("card.any", key, psrc, pj, ppair))
    pick = (pick >> np.uint64(1)).astype(np.int64)
    merchant = world.merchants_for(tr["region"][pu], pmcc, pick)
    n_stores = world.merchant_stores[merchant]
    usual = rng.integers("card.store", n_stores, key, merchant)
    other = rng.integers("card.store_any", n_stores, key, psrc, pj, ppair)
    store = merchant * STORE_SLOTS + np.where(rng.uniform("card.usual", key, psrc, pj, ppair) < 0.8, usual, other)
    lat, lon = store_location(world, store, world.merchant_region[merchant])
    amount = world.mcc_median_amount[pmcc] * np.exp(
        world.markets.spend_shift[tr["market"][pu]]
        + cfg.cards.amount_sigma * rng.normal("card.amount", key, psrc, pj, ppair)
    )
    hour = np.clip(13.5 + 3.5 * rng.normal("card.hour", key, psrc, pj, ppair), 6.0, 23.9)
    return {
        "idx": key, "day": pday, "src_day": psrc, "j": pj, "pair": ppair, "sec": hour * 3600.0, "merchant_id": merchant,
        "store_id": store, "mcc": pmcc, "amount": np.round(amount, 2), "lat": lat, "lon": lon,
        "market": tr["market"][pu],
    }
