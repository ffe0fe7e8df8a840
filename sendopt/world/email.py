"""Email domain: logging policy → sends → opens/clicks/unsubscribes → the week's purchase outcome.

The unit is the user-week. The logging policy gives each user-week a planned
frequency ``k`` (fixed per brand, or uniform 0..7 with probability 1/8 in the
exploration holdout); the ``k`` sends land on random weekdays; the week's
outcome (purchase / unsubscribe / nothing) is one multinomial draw from the
true response (``truth.email_probabilities``), so the raw data of the holdout
identifies the true response curve. Once unsubscribed a user gets no more
email; the fatigue load carries last week's sends.

One simulation feeds four tables (sends, events, orders, consents); each table
builder reruns it for its batch (cheap numpy) instead of joining.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from sendopt.world import truth
from sendopt.world.model import World
from sendopt.world.traits import user_traits

POLICIES = ("fixed", "exploration", "decision")
EVENT_TYPES = ("open", "click", "unsubscribe")
DAY_S = 86_399.0


@dataclass
class EmailWeeks:
    """Simulated user-weeks: ``[n, W]`` arrays, per-weekday ``[n, W, 7]`` arrays."""

    tr: dict
    days: np.ndarray  # [W, 7] day index of each weekday slot
    exists: np.ndarray  # [n, W, 7] the user has signed up by that day
    emailable: np.ndarray  # [n, W] consent at the start of the week (opted in, not unsubscribed)
    send: np.ndarray  # [n, W, 7]
    planned: np.ndarray
    prob: np.ndarray
    policy: np.ndarray
    k: np.ndarray
    outcome: np.ndarray  # 0 nothing, 1 purchase, 2 unsubscribe
    driven: np.ndarray  # purchase caused by a click on ``action_slot``
    action_slot: np.ndarray
    send_s: np.ndarray
    opened: np.ndarray
    open_s: np.ndarray
    clicked: np.ndarray
    click_s: np.ndarray
    unsub_s: np.ndarray


def _after(rng, stream, start_s, mean_s, *keys):
    """A time after ``start_s`` within the same day (exponential lag, truncated at midnight)."""
    lag = rng.exponential(stream, *keys, mean=mean_s)
    return start_s + np.minimum(lag, np.maximum(DAY_S - start_s, 0.0) * rng.uniform(stream + ".cap", *keys))


def logging_policy(world: World, tr: dict, weeks: np.ndarray):
    """Historical policy: (planned k, assignment probability, policy code) per user-week."""
    rng, cfg = world.rng, world.config
    idx = tr["idx"][:, None]
    top = cfg.email.exploration_max_frequency
    explore = np.broadcast_to(tr["exploration"][:, None], (len(idx), len(weeks)))
    random_k = rng.integers("email.k", top + 1, idx, weeks[None, :])
    fixed_k = world.markets.fixed_frequency[tr["market"]][:, None]
    planned = np.where(explore, random_k, fixed_k)
    prob = np.where(explore, 1.0 / (top + 1), 1.0)
    return planned, prob, np.where(explore, 1, 0)


def simulate(world: World, idx: np.ndarray, weeks: np.ndarray, inputs: dict | None = None) -> EmailWeeks:
    """Play ``weeks`` for users ``idx``.

    ``inputs`` (simulate-outcomes, a single week) may fix ``planned``/``prob``/``policy`` per user
    (``planned`` < 0: keep the logging policy) and give the state read from the lake: ``k_prev``
    (emails last week) and ``blocked`` (already unsubscribed).
    """
    rng = world.rng
    tr = user_traits(world, idx)
    n, n_w = len(idx), len(weeks)
    key = tr["idx"][:, None]
    days = weeks[:, None] * 7 + np.arange(7)[None, :]
    exists = days[None, :, :] >= tr["signup_day"][:, None, None]

    planned, prob, policy = logging_policy(world, tr, weeks)
    inputs = inputs or {}
    if "planned" in inputs:
        given = inputs["planned"] >= 0
        planned = np.where(given[:, None], inputs["planned"][:, None], planned)
        prob = np.where(given[:, None], inputs["prob"][:, None], prob)
        policy = np.where(given[:, None], inputs["policy"][:, None], policy)
    ranks = rng.permutation_ranks("email.days", 7, key, weeks[None, :])
    season = np.log(world.week_season(weeks))
    act = truth.activity(truth.NP, world, tr["decay_start"][:, None], (weeks * 7 + 3)[None, :].astype(float))

    blocked = inputs.get("blocked", np.zeros(n, dtype=bool)) | ~tr["email_opt_in"]
    k_prev = inputs.get("k_prev", np.zeros(n)).astype(float)
    send = np.zeros((n, n_w, 7), dtype=bool)
    emailable = np.zeros((n, n_w), dtype=bool)
    k = np.zeros((n, n_w), dtype=np.int64)
    outcome = np.zeros((n, n_w), dtype=np.int64)
    p_buy0 = np.zeros((n, n_w))
    p_buyk = np.zeros((n, n_w))
    for w in range(n_w):
        emailable[:, w] = ~blocked & exists[:, w].any(axis=1)
        send[:, w] = (ranks[:, w] < planned[:, w, None]) & exists[:, w] & ~blocked[:, None]
        k[:, w] = send[:, w].sum(axis=1)
        pb, pu = truth.email_probabilities(
            truth.NP, world, tr, k[:, w].astype(float), k_prev, season[w], act[:, w], float(weeks[w] * 7)
        )
        p_buy0[:, w], _ = truth.email_probabilities(truth.NP, world, tr, 0.0, k_prev, season[w], act[:, w],
                                                    float(weeks[w] * 7))
        p_buyk[:, w] = pb
        u = rng.uniform("email.outcome", tr["idx"], weeks[w])
        alive = exists[:, w].any(axis=1)
        outcome[:, w] = np.where(alive & (u < pu), 2, np.where(alive & (u < pu + pb), 1, 0))
        blocked = blocked | (outcome[:, w] == 2)
        k_prev = k[:, w].astype(float)

    dkey = days[None, :, :]
    send_s = world.config.email.send_hour * 3600.0 + 7200.0 * rng.uniform("email.send_s", key[:, :, None], dkey)
    act_day = truth.activity(truth.NP, world, tr["decay_start"][:, None, None], dkey.astype(float))
    opened = send & (rng.uniform("email.open", key[:, :, None], dkey) < tr["open_prob"][:, None, None] * act_day)
    clicked = opened & (rng.uniform("email.click", key[:, :, None], dkey) < tr["click_prob"][:, None, None])

    slot_u = np.where(send, rng.uniform("email.slot", key[:, :, None], dkey), -1.0)
    action_slot = slot_u.argmax(axis=2)
    lift_share = np.where(p_buyk > 0, 1.0 - p_buy0 / np.maximum(p_buyk, 1e-12), 0.0)
    driven = (outcome == 1) & (k > 0) & (rng.uniform("email.driven", key, weeks[None, :]) < lift_share)
    forced = np.zeros_like(send)
    np.put_along_axis(forced, action_slot[:, :, None], ((outcome == 2) | driven)[:, :, None], axis=2)
    opened |= forced & send
    forced_click = np.zeros_like(send)
    np.put_along_axis(forced_click, action_slot[:, :, None], driven[:, :, None], axis=2)
    clicked |= forced_click & send

    open_s = _after(rng, "email.open_s", send_s, 3 * 3600.0, key[:, :, None], dkey)
    click_s = _after(rng, "email.click_s", open_s, 300.0, key[:, :, None], dkey)
    unsub_open = np.take_along_axis(open_s, action_slot[:, :, None], axis=2)[:, :, 0]
    unsub_s = _after(rng, "email.unsub_s", unsub_open, 120.0, key, weeks[None, :])
    return EmailWeeks(tr, days, exists, emailable, send, planned, prob, policy, k, outcome, driven, action_slot,
                      send_s, opened, open_s, clicked, click_s, unsub_s)


def _window(world: World, batch: pd.DataFrame, first_day: int, horizon: int):
    """Weeks covering [first_day, horizon) and the simulate-outcomes inputs carried by ``batch``."""
    weeks = np.arange(first_day // 7, (horizon - 1) // 7 + 1)
    inputs = {}
    if "planned" in batch:
        inputs = {
            "planned": batch["planned"].to_numpy(np.int64),
            "prob": batch["prob"].to_numpy(float),
            "policy": batch["policy"].to_numpy(np.int64),
            "k_prev": batch["k_prev"].to_numpy(float),
            "blocked": batch["blocked"].to_numpy(bool),
        }
    return simulate(world, batch["idx"].to_numpy(np.int64), weeks, inputs), weeks


def _in_window(day, first_day, horizon):
    return (day >= first_day) & (day < horizon)


ASSIGNMENTS_SCHEMA = "idx long, market int, week int, policy int, planned int, prob double, sends int"


def assignments_rows(world: World, batch: pd.DataFrame, first_day: int, horizon: int) -> pd.DataFrame:
    """The logging policy's record: one row per emailable user-week, including weeks with k = 0."""
    sim, weeks = _window(world, batch, first_day, horizon)
    start = weeks * 7
    keep = sim.emailable & ((start >= first_day) & (start < horizon))[None, :]
    u, w = np.nonzero(keep)
    return pd.DataFrame({
        "idx": sim.tr["idx"][u], "market": sim.tr["market"][u], "week": weeks[w], "policy": sim.policy[u, w],
        "planned": sim.planned[u, w], "prob": sim.prob[u, w], "sends": sim.k[u, w],
    })


SENDS_SCHEMA = "idx long, market int, day int, week int, sec double, policy int, planned int, prob double"


def sends_rows(world: World, batch: pd.DataFrame, first_day: int, horizon: int) -> pd.DataFrame:
    sim, weeks = _window(world, batch, first_day, horizon)
    day = np.broadcast_to(sim.days[None], sim.send.shape)
    d = sim.send & _in_window(day, first_day, horizon)
    u, w, _ = np.nonzero(d)
    return pd.DataFrame({
        "idx": sim.tr["idx"][u], "market": sim.tr["market"][u], "day": day[d], "week": weeks[w],
        "sec": sim.send_s[d], "policy": sim.policy[u, w], "planned": sim.planned[u, w], "prob": sim.prob[u, w],
    })


EVENTS_SCHEMA = "idx long, day int, kind int, sec double"


def events_rows(world: World, batch: pd.DataFrame, first_day: int, horizon: int) -> pd.DataFrame:
    sim, _ = _window(world, batch, first_day, horizon)
    day = np.broadcast_to(sim.days[None], sim.send.shape)
    keep = _in_window(day, first_day, horizon)
    parts = []
    for kind, mask, secs in ((0, sim.opened, sim.open_s), (1, sim.clicked, sim.click_s)):
        m = mask & keep
        u = np.nonzero(m)[0]
        parts.append(pd.DataFrame({"idx": sim.tr["idx"][u], "day": day[m], "kind": kind, "sec": secs[m]}))
    u, w = np.nonzero(sim.outcome == 2)
    uday = sim.days[w, sim.action_slot[u, w]]
    ok = _in_window(uday, first_day, horizon)
    parts.append(pd.DataFrame({"idx": sim.tr["idx"][u][ok], "day": uday[ok], "kind": 2, "sec": sim.unsub_s[u, w][ok]}))
    return pd.concat(parts, ignore_index=True)


def unsubscribe_rows(world: World, batch: pd.DataFrame, first_day: int, horizon: int) -> pd.DataFrame:
    """Email consent withdrawals (one per unsubscribe event)."""
    ev = events_rows(world, batch, first_day, horizon)
    return ev[ev["kind"] == 2]


ORDERS_SCHEMA = (
    "idx long, market int, day int, week int, j int, sec double, amount double, category int, attributed_day int"
)
ORDERS_COLUMNS = [c.split()[0] for c in ORDERS_SCHEMA.split(", ")]
MAX_ORDERS = 4


def orders_rows(world: World, batch: pd.DataFrame, first_day: int, horizon: int) -> pd.DataFrame:
    """Orders of purchase weeks: the first one on the clicked email's day when email-driven."""
    sim, weeks = _window(world, batch, first_day, horizon)
    rng, cfg, tr = world.rng, world.config, sim.tr
    u, w = np.nonzero(sim.outcome == 1)
    if not len(u):
        return pd.DataFrame(columns=ORDERS_COLUMNS)
    key, wk = tr["idx"][u], weeks[w]
    count = np.minimum(1 + rng.poisson("order.extra", cfg.email.extra_orders_mean, key, wk), MAX_ORDERS)
    j = np.arange(MAX_ORDERS)[None, :]
    season = world.season(sim.days[w])  # [m, 7]
    pick = rng.uniform("order.slot", key[:, None, None], wk[:, None, None], j[:, :, None], np.arange(7))
    score = np.where(sim.exists[u, w][:, None, :], pick ** (1.0 / season[:, None, :]), -1.0)
    slot = score.argmax(axis=2)  # [m, J] season-weighted day within the week
    driven = sim.driven[u, w]
    act_slot = sim.action_slot[u, w]
    slot[:, 0] = np.where(driven, act_slot, slot[:, 0])
    hour = np.clip(19.0 + 3.0 * rng.normal("order.hour", key[:, None], wk[:, None], j), 0.0, 23.9)
    sec = hour * 3600.0
    click = np.take_along_axis(sim.click_s[u, w], act_slot[:, None], axis=1)[:, 0]
    sec[:, 0] = np.where(driven, _after(rng, "order.after_click", click, 3600.0, key, wk), sec[:, 0])
    amount = np.exp(tr["spend_log_mu"][u][:, None]
                    + cfg.traits.spend_log_sigma * rng.normal("order.amount", key[:, None], wk[:, None], j))
    fav = rng.uniform("order.fav", key[:, None], wk[:, None], j) < cfg.web.favourite_share
    category = np.where(fav, tr["favourite_category"][u][:, None],
                        rng.integers("order.category", len(cfg.categories), key[:, None], wk[:, None], j))
    day = np.take_along_axis(sim.days[w], slot, axis=1)
    attributed = np.where((j == 0) & driven[:, None], day, -1)
    keep = (j < count[:, None]) & _in_window(day, first_day, horizon)
    rows = np.nonzero(keep)[0]
    return pd.DataFrame({
        "idx": key[rows], "market": tr["market"][u][rows], "day": day[keep], "week": wk[rows],
        "j": np.broadcast_to(j, keep.shape)[keep], "sec": sec[keep], "amount": np.round(amount[keep], 2),
        "category": category[keep], "attributed_day": attributed[keep],
    })

