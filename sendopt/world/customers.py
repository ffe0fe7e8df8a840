"""Customers (accounts at signup) and consent changes (email unsubscribes, push opt-outs)."""
from __future__ import annotations

import numpy as np
import pandas as pd

from sendopt.world import email
from sendopt.world.model import World
from sendopt.world.traits import user_traits

CUSTOMERS_SCHEMA = (
    "idx long, market int, signup_day int, birth_year int, gender int, device int, home_lat double, "
    "home_lon double, email_opt_in boolean, push_opt_in boolean"
)


def customers_rows(world: World, batch: pd.DataFrame) -> pd.DataFrame:
    """Every account that exists by the end of the window (new users sign up inside it)."""
    tr = user_traits(world, batch["idx"].to_numpy(np.int64))
    return pd.DataFrame({
        "idx": tr["idx"], "market": tr["market"], "signup_day": tr["signup_day"],
        "birth_year": world.config.start_date.year - tr["age"], "gender": tr["gender"], "device": tr["device"],
        "home_lat": np.round(tr["home_lat"], 4), "home_lon": np.round(tr["home_lon"], 4),
        "email_opt_in": tr["email_opt_in"], "push_opt_in": tr["push_opt_in"],
    })


CONSENTS_SCHEMA = "idx long, channel int, day int, sec double"
CHANNELS = ("email", "push")
SOURCES = ("unsubscribe_link", "app_settings")


def consents_rows(world: World, batch: pd.DataFrame, first_day: int, horizon: int) -> pd.DataFrame:
    """Email consent withdrawn at each unsubscribe; push opt-outs on a per-user day drawn at random."""
    unsub = email.unsubscribe_rows(world, batch, first_day, horizon)
    tr = user_traits(world, batch["idx"].to_numpy(np.int64))
    day = np.maximum(tr["push_opt_out_day"], tr["signup_day"])
    out = tr["push_opt_in"] & (day >= first_day) & (day < horizon)
    sec = 8 * 3600.0 + 14 * 3600.0 * world.rng.uniform("consent.push_s", tr["idx"])
    push = pd.DataFrame({"idx": tr["idx"][out], "channel": 1, "day": day[out], "sec": sec[out]})
    return pd.concat(
        [pd.DataFrame({"idx": unsub["idx"], "channel": 0, "day": unsub["day"], "sec": unsub["sec"]}), push],
        ignore_index=True,
    )
