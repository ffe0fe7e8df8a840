"""Web/app browsing: sessions per active day, page views and add-to-carts by category.

Session rate follows email engagement and purchase propensity and decays with
activity, and add-to-cart rate follows purchase propensity: these are the
observable leaks of the latent traits that drive the email response.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from sendopt.world import truth
from sendopt.world.model import World
from sendopt.world.rng import sigmoid
from sendopt.world.traits import user_traits

WEB_SCHEMA = "idx long, day int, session int, seq int, sec double, event_type int, category int, device int"
EVENT_TYPES = ("page_view", "add_to_cart")
MAX_SESSIONS = 6
MAX_EVENTS = 12


def web_rows(world: World, batch: pd.DataFrame, first_day: int, horizon: int) -> pd.DataFrame:
    rng, cfg = world.rng, world.config
    tr = user_traits(world, batch["idx"].to_numpy(np.int64))
    days = np.arange(first_day, horizon)
    act = truth.activity(truth.NP, world, tr["decay_start"][:, None], days[None, :].astype(float))
    rate = tr["web_rate"][:, None] * act * world.season(days)[None, :]
    rate = np.where(days[None, :] >= tr["signup_day"][:, None], rate, 0.0)
    n_sess = np.minimum(rng.poisson("web.sessions", rate, tr["idx"][:, None], days[None, :]), MAX_SESSIONS)

    # one row per session
    u, d = np.nonzero(n_sess)
    reps = n_sess[u, d]
    su, sd = np.repeat(u, reps), np.repeat(days[d], reps)
    s = np.arange(len(su)) - np.repeat(np.cumsum(reps) - reps, reps)
    key = tr["idx"][su]
    hour = cfg.web.session_hour_mean + cfg.web.session_hour_sd * rng.normal("web.hour", key, sd, s)
    start = np.clip(hour, 0.0, 23.5) * 3600.0
    n_ev = np.minimum(1 + rng.poisson("web.events", cfg.web.events_per_session - 1, key, sd, s), MAX_EVENTS)

    # one row per event
    eu = np.repeat(np.arange(len(su)), n_ev)
    e = np.arange(len(eu)) - np.repeat(np.cumsum(n_ev) - n_ev, n_ev)
    ekey, eday, es = key[eu], sd[eu], s[eu]
    gaps = rng.exponential("web.gap", ekey, eday, es, e, mean=60.0)
    sec = np.minimum(start[eu] + e * 60.0 + gaps, 86_399.0)
    buyer = sigmoid(tr["purchase_logit"][su[eu]] - cfg.traits.purchase_logit)  # 0.5 for an average user
    cart = rng.uniform("web.cart", ekey, eday, es, e) < cfg.web.add_to_cart_rate * 2 * buyer
    fav = rng.uniform("web.fav", ekey, eday, es, e) < cfg.web.favourite_share
    category = np.where(fav, tr["favourite_category"][su[eu]],
                        rng.integers("web.category", len(cfg.categories), ekey, eday, es, e))
    return pd.DataFrame({
        "idx": ekey, "day": eday, "session": es, "seq": e, "sec": sec, "event_type": cart.astype(np.int64),
        "category": category, "device": tr["device"][su[eu]],
    })
