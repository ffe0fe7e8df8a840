"""Merchant promos: campaigns, who is eligible and offered, what an offer changes, and the exact truth.

For a customer u, a merchant m, a window W = [start, end] and a design (pct, voucher, min spend M):

* **Baseline.** u's card payments at m (``cards.payments``) are Poisson per day, so the expected count
  in W is B = π·Q: Q the expected payments at m's MCC (background and planted follow-ups), π the chance
  such a payment lands at m (u's loyal home merchant of the MCC, or a random one of the region). Basket
  A ~ lognormal(ln median(MCC) + the market's spend shift, ``cards.amount_sigma``).
* **Who can use it.** An order with A ≥ ``near_share``·M can use the promo, topped up to M when below
  it; further below, the customer pays full price (and no incremental order happens).
* **Subsidy.** A usable order that would have happened anyway is paid with the promo with probability
  ρ = ``truth.promo_redeem_probability`` (offer strength x = pct/100 + voucher/median basket, and the
  customer's sensitivity — which therefore shows in past redemptions). Discount paid, no extra order.
* **Incremental.** Extra orders at m, Poisson with mean Q·L·P(usable), L = ``truth.promo_lift``:
  new customers (no payment at m before start) need a strong offer, churned ones (last payment older
  than ``active_days``) a medium one, active ones barely respond — they are mostly subsidised.
* **Cold start.** Sensitivity is the latent trait shifted by region and device priors
  (``truth.promo_sensitivity``), so a customer without history responds like their region and device.

``raw.card_transactions`` is ``cards.payments`` with the promos applied (:func:`card_rows`): a redeemed
order is the same payment at the price paid, an incremental order is an extra payment; every draw is
keyed by (user, campaign, day), so a day generated alone by ``simulate-outcomes`` agrees with the
history. Campaigns (history) are a pure function of their index; plans come from
``decisions.promo_assignments`` through the ``promo_*`` array columns of the simulation inputs.
:func:`promo_outcomes` gives the exact expectations of any (customer, merchant, window, design) in Spark.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from sendopt.world import truth
from sendopt.world.cards import PROMO_PAIR, daily_rate, pair_lead, payments
from sendopt.world.frames import user_id, user_range
from sendopt.world.merchants import store_location
from sendopt.world.model import STORE_SLOTS, World
from sendopt.world.traits import user_traits

SEGMENTS = truth.PROMO_SEGMENTS
SOURCES = ("history", "plan")
CAMPAIGNS_SCHEMA = (
    "campaign long, merchant_id long, region int, start_day int, end_day int, discount_pct int, "
    "voucher_value double, min_spend double, target_segment int, offer_probability double, source int"
)
OFFERS_SCHEMA = "campaign long, idx long, segment int, offered boolean, prob double, day int, sec double"
REDEMPTIONS_SCHEMA = ("campaign long, idx long, merchant_id long, store_id long, day int, src_day int, j int, "
                      "pair int, promo long, sec double, basket double, discount double")
PROMO_OUTCOME_COLUMNS = ("orders_without", "gmv_without", "orders_with", "gmv_with", "expected_cost",
                         "expected_redemptions", "subsidised_redemptions")
EFFECTS_SCHEMA = ("campaign long, idx long, merchant_id long, segment int, offered boolean, "
                  + ", ".join(f"{c} double" for c in PROMO_OUTCOME_COLUMNS))
#: Array columns of the simulation inputs that carry a user's plan offers (``simulate.simulation_inputs``).
PLAN_COLUMNS = ("promo_key", "promo_merchant", "promo_pct", "promo_voucher", "promo_min", "promo_start",
                "promo_end", "promo_offered", "promo_prob")
_BIG = np.int64(1 << 22)  # > any day index: (user row, merchant) and day packed in one sortable int64


# ---------------------------------------------------------------- campaigns
def campaign_params(world: World, c: np.ndarray) -> dict[str, np.ndarray]:
    rng, p, days = world.rng, world.config.promos, world.config.days
    c = np.asarray(c, dtype=np.int64)
    merchant = rng.integers("promo.merchant", world.config.merchants.count, c)
    start = p.lead_days + rng.integers("promo.start", max(1, days - 2 * p.lead_days), c)  # history before, room after
    return {
        "campaign": c,
        "merchant_id": merchant,
        "region": world.merchant_region[merchant],
        "start_day": start,
        "end_day": np.minimum(start + p.min_length_days + rng.integers("promo.length", p.extra_length_days, c),
                              days - 1),
        "discount_pct": np.asarray(p.discount_pcts)[rng.integers("promo.pct", len(p.discount_pcts), c)],
        "voucher_value": np.asarray(p.voucher_values)[rng.integers("promo.voucher", len(p.voucher_values), c)],
        "min_spend": np.asarray(p.min_spends)[rng.integers("promo.min", len(p.min_spends), c)],
        "target_segment": rng.integers("promo.segment", len(p.segments), c),
        "offer_probability": np.asarray(p.offer_probabilities, dtype=float)[
            rng.integers("promo.offer_p", len(p.offer_probabilities), c)],
        "source": np.zeros(len(c), dtype=np.int64),
    }


def campaigns_rows(world: World, batch: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame(campaign_params(world, batch["idx"].to_numpy(np.int64)))


# ---------------------------------------------------------------- offers (history and plans)
def _rows_of(tr, idx: np.ndarray) -> np.ndarray:
    order = np.argsort(tr["idx"], kind="stable")
    return order[np.searchsorted(tr["idx"], idx, sorter=order)]


def segments_at(world: World, tr, pay, rows: np.ndarray, merchant: np.ndarray, start: np.ndarray) -> np.ndarray:
    """Segment index (0 new, 1 active, 2 churned) of user rows for merchants at start days, from the
    payments ``pay`` (covering at least [0, max start)) before each start."""
    n_m = np.int64(world.config.merchants.count)
    prow = _rows_of(tr, pay["idx"])
    packed = np.sort((prow * n_m + pay["merchant_id"]) * _BIG + pay["day"])
    comp = rows.astype(np.int64) * n_m + merchant
    pos = np.searchsorted(packed, comp * _BIG + start, side="left") - 1
    hit = pos >= 0
    prev = packed[np.maximum(pos, 0)]
    hit &= (prev // _BIG) == comp
    since = start - prev % _BIG
    return np.where(~hit, 0, np.where(since <= world.config.promos.active_days, 1, 2))


def _empty_offers() -> dict[str, np.ndarray]:
    f, i = np.zeros(0), np.zeros(0, dtype=np.int64)
    return {"row": i, "key": i, "merchant": i, "start": i, "end": i, "pct": f, "voucher": f, "min_spend": f,
            "offered": np.zeros(0, dtype=bool), "prob": f, "segment": i, "source": i}


def _concat(parts: list[dict]) -> dict[str, np.ndarray]:
    parts = [p for p in parts if len(p["row"])] or [_empty_offers()]
    return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}


def history_offers(world: World, tr, pay, campaigns: np.ndarray) -> dict[str, np.ndarray]:
    """Eligible (user row, campaign) pairs of historical ``campaigns``: same region as the merchant, signed
    up before the start, a card holder, in the target segment; offered at random with the campaign's
    offer_probability. ``pay`` must cover [0, the latest start)."""
    if not len(campaigns) or not len(tr["idx"]):
        return _empty_offers()
    cp = campaign_params(world, campaigns)
    n, c = len(tr["idx"]), len(campaigns)
    rows = np.repeat(np.arange(n), c)
    ci = np.tile(np.arange(c), n)
    seg = segments_at(world, tr, pay, rows, cp["merchant_id"][ci], cp["start_day"][ci])
    target = cp["target_segment"][ci]  # 0 = all, else 1 + segment index
    eligible = ((tr["region"][rows] == cp["region"][ci]) & (tr["signup_day"][rows] < cp["start_day"][ci])
                & tr["card_holder"][rows] & ((target == 0) | (target - 1 == seg)))
    rows, ci, seg = rows[eligible], ci[eligible], seg[eligible]
    key = cp["campaign"][ci]
    prob = cp["offer_probability"][ci]
    return {"row": rows, "key": key, "merchant": cp["merchant_id"][ci], "start": cp["start_day"][ci],
            "end": cp["end_day"][ci], "pct": cp["discount_pct"][ci].astype(float),
            "voucher": cp["voucher_value"][ci], "min_spend": cp["min_spend"][ci],
            "offered": world.rng.uniform("promo.offer", tr["idx"][rows], key) < prob, "prob": prob,
            "segment": seg, "source": np.zeros(len(rows), dtype=np.int64)}


def plan_offers(world: World, tr, batch: pd.DataFrame, pay) -> dict[str, np.ndarray]:
    """The plan offers carried by ``batch`` (arrays per user in :data:`PLAN_COLUMNS`), holdouts included."""
    if "promo_key" not in batch.columns:
        return _empty_offers()
    lengths = np.array([0 if v is None else len(v) for v in batch["promo_key"]], dtype=np.int64)
    if not lengths.sum():
        return _empty_offers()
    rows = np.repeat(_rows_of(tr, batch["idx"].to_numpy(np.int64)), lengths)

    def flat(name, dtype):
        return np.concatenate([np.asarray(v, dtype=dtype) for v in batch[name] if v is not None and len(v)])

    out = {"row": rows, "key": flat("promo_key", np.int64), "merchant": flat("promo_merchant", np.int64),
           "start": flat("promo_start", np.int64), "end": flat("promo_end", np.int64),
           "pct": flat("promo_pct", float), "voucher": flat("promo_voucher", float),
           "min_spend": flat("promo_min", float), "offered": flat("promo_offered", bool),
           "prob": flat("promo_prob", float), "source": np.ones(len(rows), dtype=np.int64)}
    out["segment"] = segments_at(world, tr, pay, rows, out["merchant"], out["start"])
    return out


def _campaigns_overlapping(world: World, first_day: int, horizon: int, starting: bool = False) -> np.ndarray:
    cp = campaign_params(world, np.arange(world.config.promos.campaigns))
    if starting:
        keep = (cp["start_day"] >= first_day) & (cp["start_day"] < horizon)
    else:
        keep = (cp["start_day"] < horizon) & (cp["end_day"] >= first_day)
    return cp["campaign"][keep]


def batch_offers(world: World, batch: pd.DataFrame, first_day: int, horizon: int, starting: bool = False):
    """(traits, offers) of a batch's users: historical campaigns and plan offers active in [first_day,
    horizon) (``starting``: only those starting in it, for the offer log)."""
    idx = batch["idx"].to_numpy(np.int64)
    tr = user_traits(world, idx)
    campaigns = _campaigns_overlapping(world, first_day, horizon, starting)
    has_plan = "promo_key" in batch.columns and any(v is not None and len(v) for v in batch["promo_key"])
    if not len(campaigns) and not has_plan:
        return tr, _empty_offers()
    starts = [campaign_params(world, campaigns)["start_day"].max() if len(campaigns) else 0]
    if has_plan:
        starts.append(max(int(np.max(v)) for v in batch["promo_start"] if v is not None and len(v)))
    pay = payments(world, idx, 0, max(int(max(starts)), 1), tr=tr)
    offers = _concat([history_offers(world, tr, pay, campaigns), plan_offers(world, tr, batch, pay)])
    if starting:
        keep = (offers["start"] >= first_day) & (offers["start"] < horizon)
    else:
        keep = (offers["start"] < horizon) & (offers["end"] >= first_day)
    return tr, {k: v[keep] for k, v in offers.items()}


def offers_rows(world: World, batch: pd.DataFrame, first_day: int, horizon: int) -> pd.DataFrame:
    """``raw.promo_offers``: every eligible customer of the campaigns starting in [first_day, horizon)."""
    tr, o = batch_offers(world, batch, first_day, horizon, starting=True)
    key = tr["idx"][o["row"]]
    sec = 5 * 3600.0 + 3600.0 * world.rng.uniform("promo.offer_s", key, o["key"])  # before any card payment
    return pd.DataFrame({"campaign": o["key"], "idx": key, "segment": o["segment"], "offered": o["offered"],
                         "prob": o["prob"], "day": o["start"],
                         "sec": np.where(o["offered"], sec, np.nan)})


# ---------------------------------------------------------------- the response (numpy)
class _Rates:
    """Cumulative expected background payments per user row over a day range, for window sums."""

    def __init__(self, world: World, tr, first_day: int, last_day: int) -> None:
        self.d0 = first_day - pair_lead(world)
        rate = daily_rate(world, tr, np.arange(self.d0, last_day + 1))
        self.cum = np.concatenate([np.zeros((rate.shape[0], 1)), np.cumsum(rate, axis=1)], axis=1)

    def window(self, rows, a, b) -> np.ndarray:
        """Σ rate over days a..b (inclusive) per row."""
        return self.cum[rows, b - self.d0 + 1] - self.cum[rows, a - self.d0]


def mcc_payments(world: World, rates: _Rates, rows, mcc, a, b) -> np.ndarray:
    """Q: expected payments of user rows at MCC ``mcc`` on days a..b (background and planted follow-ups)."""
    q = world.mcc_weights[mcc] * rates.window(rows, a, b)
    for p in range(len(world.pair_src)):
        per_lag = world.pair_strength[p] * world.mcc_weights[world.pair_src[p]] / world.pair_window[p]
        follow = sum(rates.window(rows, a - lag, b - lag) for lag in range(1, int(world.pair_window[p]) + 1))
        q = q + np.where(mcc == world.pair_dst[p], per_lag * follow, 0.0)
    return q


def merchant_share(world: World, tr, rows, merchant) -> np.ndarray:
    """π: the chance a payment of the user at the merchant's MCC lands at that merchant."""
    table, counts = world._merchant_table
    region, mcc = tr["region"][rows], world.merchant_mcc[merchant]
    n = counts[region, mcc]
    pick = (world.rng.bits("card.home", tr["idx"][rows], mcc) >> np.uint64(1)).astype(np.int64)
    home = table[region, mcc, pick % np.maximum(n, 1)] == merchant
    listed = ((table[region, mcc, :] == merchant[:, None]) & (np.arange(table.shape[2])[None, :] < n[:, None])).any(1)
    loyalty = world.config.cards.loyalty
    return loyalty * home + (1 - loyalty) * listed / np.maximum(n, 1)


def basket_log_mu(world: World, tr, rows, merchant) -> np.ndarray:
    return np.log(world.mcc_median_amount[world.merchant_mcc[merchant]]) + world.markets.spend_shift[tr["market"][rows]]


def offer_response(world: World, tr, rows, merchant, segment, pct, voucher):
    """(strength x, sensitivity, subsidy ρ, lift L) of offers."""
    x = truth.promo_strength(world, merchant, pct, voucher)
    sens = truth.promo_sensitivity(world, tr["discount_sensitivity"][rows], tr["region"][rows], tr["device"][rows])
    return x, sens, truth.promo_redeem_probability(world, x, sens), truth.promo_lift(world, segment, x, sens)


def expected_outcomes(world: World, tr, rates: _Rates, rows, merchant, start, end, segment, pct, voucher,
                      min_spend) -> dict[str, np.ndarray]:
    """Exact expectations (see the module docstring) per row of :data:`PROMO_OUTCOME_COLUMNS`."""
    q = mcc_payments(world, rates, rows, world.merchant_mcc[merchant], start, end)
    base = merchant_share(world, tr, rows, merchant) * q
    _, _, rho, lift = offer_response(world, tr, rows, merchant, segment, pct, voucher)
    m = truth.promo_basket_moments(world, basket_log_mu(world, tr, rows, merchant), pct, voucher, min_spend)
    subsidised = base * rho * m["usable"]
    extra = q * lift * m["usable"]
    return {
        "orders_without": base, "gmv_without": base * m["mean"],
        "orders_with": base + extra, "gmv_with": base * (m["mean"] + rho * m["topup"]) + q * lift * m["basket"],
        "expected_cost": (base * rho + q * lift) * m["discount"],
        "expected_redemptions": subsidised + extra, "subsidised_redemptions": subsidised,
    }


# ---------------------------------------------------------------- what the card log records
def _discount(pct, voucher, basket):
    return np.round(np.minimum(basket, basket * pct / 100.0 + voucher), 2)


def apply_promos(world: World, tr, pay: dict, offers: dict, first_day: int, horizon: int):
    """(payments as recorded, redemptions) for payments ``pay`` on [first_day, horizon) and ``offers``.

    A usable payment at an offered merchant inside the window redeems with ρ (the first applicable offer
    when several overlap): its amount becomes the price paid. Incremental orders are drawn per offer-day."""
    rng = world.rng
    pay = {**pay, "promo": np.full(len(pay["idx"]), -1, dtype=np.int64)}
    o = {k: v[offers["offered"]] for k, v in offers.items()}
    empty = pd.DataFrame({c.split()[0]: [] for c in REDEMPTIONS_SCHEMA.split(", ")})
    if not len(o["row"]):
        return pay, empty
    n_m = np.int64(world.config.merchants.count)
    _, _, rho, lift = offer_response(world, tr, o["row"], o["merchant"], o["segment"], o["pct"], o["voucher"])
    floor = world.config.promos.near_share * o["min_spend"]

    # subsidy: payments that would have happened anyway
    prow = _rows_of(tr, pay["idx"])
    pcomp = prow * n_m + pay["merchant_id"]
    order = np.argsort(pcomp, kind="stable")
    ocomp = o["row"].astype(np.int64) * n_m + o["merchant"]
    lo, hi = np.searchsorted(pcomp[order], ocomp, "left"), np.searchsorted(pcomp[order], ocomp, "right")
    cnt = hi - lo
    oi = np.repeat(np.arange(len(ocomp)), cnt)
    pi = order[lo[oi] + np.arange(cnt.sum()) - np.repeat(np.cumsum(cnt) - cnt, cnt)]
    day = pay["day"][pi]
    hit = (day >= o["start"][oi]) & (day <= o["end"][oi]) & (pay["amount"][pi] >= floor[oi])
    oi, pi = oi[hit], pi[hit]
    u = rng.uniform("promo.redeem", pay["idx"][pi], o["key"][oi], pay["day"][pi], pay["src_day"][pi],
                    pay["j"][pi], pay["pair"][pi])
    red = u < rho[oi]
    oi, pi = oi[red], pi[red]
    pi, first = np.unique(pi, return_index=True)  # oi ascends within a payment: the first offer wins
    oi = oi[first]
    basket = np.maximum(pay["amount"][pi], o["min_spend"][oi])
    discount = _discount(o["pct"][oi], o["voucher"][oi], basket)
    amount = pay["amount"].copy()
    amount[pi] = np.round(basket - discount, 2)
    pay["amount"] = amount
    sub = pd.DataFrame({"campaign": o["key"][oi], "idx": pay["idx"][pi], "merchant_id": pay["merchant_id"][pi],
                        "store_id": pay["store_id"][pi], "day": pay["day"][pi], "src_day": pay["src_day"][pi],
                        "j": pay["j"][pi], "pair": pay["pair"][pi], "promo": pay["promo"][pi],
                        "sec": pay["sec"][pi], "basket": np.round(basket, 2), "discount": discount})

    # incremental orders, per offer-day
    a, b = np.maximum(o["start"], first_day), np.minimum(o["end"], horizon - 1)
    ndays = np.maximum(b - a + 1, 0)
    od = np.repeat(np.arange(len(ocomp)), ndays)
    d = a[od] + np.arange(ndays.sum()) - np.repeat(np.cumsum(ndays) - ndays, ndays)
    extra = {k: np.zeros(0, dtype=v.dtype) for k, v in pay.items()}
    inc = empty
    if len(od):
        rates = _Rates(world, tr, int(d.min()), int(d.max()))
        merchant = o["merchant"][od]
        q = mcc_payments(world, rates, o["row"][od], world.merchant_mcc[merchant], d, d)
        key = tr["idx"][o["row"][od]]
        n = rng.poisson("promo.inc", q * lift[od], key, o["key"][od], d)
        ci = np.repeat(np.arange(len(od)), n)
        j = np.arange(len(ci)) - np.repeat(np.cumsum(n) - n, n)
        oc, key, d, merchant = od[ci], key[ci], d[ci], merchant[ci]
        ck = o["key"][oc]
        rows = o["row"][oc]
        mu = basket_log_mu(world, tr, rows, merchant)
        raw = np.round(np.exp(mu + world.config.cards.amount_sigma * rng.normal("promo.inc_amount", key, ck, d, j)), 2)
        keep = raw >= floor[oc]
        oc, key, d, merchant, ck, rows, raw, j = (x[keep] for x in (oc, key, d, merchant, ck, rows, raw, j))
        basket = np.maximum(raw, o["min_spend"][oc])
        discount = _discount(o["pct"][oc], o["voucher"][oc], basket)
        n_st = world.merchant_stores[merchant]
        usual = rng.integers("card.store", n_st, key, merchant)
        other = rng.integers("promo.inc_store", n_st, key, ck, d, j)
        store = merchant * STORE_SLOTS + np.where(rng.uniform("promo.inc_usual", key, ck, d, j) < 0.8, usual, other)
        lat, lon = store_location(world, store, world.merchant_region[merchant])
        sec = np.clip(13.5 + 3.5 * rng.normal("promo.inc_hour", key, ck, d, j), 6.0, 23.9) * 3600.0
        extra = {"idx": key, "day": d, "src_day": d, "j": j, "pair": np.full(len(key), PROMO_PAIR), "sec": sec,
                 "merchant_id": merchant, "store_id": store, "mcc": world.merchant_mcc[merchant],
                 "amount": np.round(basket - discount, 2), "lat": lat, "lon": lon, "market": tr["market"][rows],
                 "promo": ck}
        inc = pd.DataFrame({"campaign": ck, "idx": key, "merchant_id": merchant, "store_id": store, "day": d,
                            "src_day": d, "j": j, "pair": extra["pair"], "promo": ck, "sec": sec,
                            "basket": np.round(basket, 2), "discount": discount})
    recorded = {k: np.concatenate([pay[k], extra[k].astype(pay[k].dtype)]) for k in pay}
    return recorded, pd.concat([sub, inc], ignore_index=True)


def _played(world: World, batch: pd.DataFrame, first_day: int, horizon: int):
    tr, offers = batch_offers(world, batch, first_day, horizon)
    pay = payments(world, batch["idx"].to_numpy(np.int64), first_day, horizon, tr=tr)
    return apply_promos(world, tr, pay, offers, first_day, horizon)


def card_rows(world: World, batch: pd.DataFrame, first_day: int, horizon: int) -> pd.DataFrame:
    """``raw.card_transactions``: the users' payments with the promos of the days applied."""
    return pd.DataFrame(_played(world, batch, first_day, horizon)[0])


def redemptions_rows(world: World, batch: pd.DataFrame, first_day: int, horizon: int) -> pd.DataFrame:
    """``raw.promo_redemptions`` of [first_day, horizon): one row per order paid with a promo."""
    return _played(world, batch, first_day, horizon)[1]


def effect_rows(world: World, batch: pd.DataFrame) -> pd.DataFrame:
    """``truth.promo_effects``: every historical campaign × eligible customer, exact expectations."""
    tr, o = batch_offers(world, batch, 0, world.config.days)
    if not len(o["row"]):
        return pd.DataFrame({c.split()[0]: [] for c in EFFECTS_SCHEMA.split(", ")})
    rates = _Rates(world, tr, int(o["start"].min()), int(o["end"].max()))
    out = expected_outcomes(world, tr, rates, o["row"], o["merchant"], o["start"], o["end"], o["segment"],
                            o["pct"], o["voucher"], o["min_spend"])
    return pd.DataFrame({"campaign": o["key"], "idx": tr["idx"][o["row"]], "merchant_id": o["merchant"],
                         "segment": o["segment"], "offered": o["offered"], **out})


# ---------------------------------------------------------------- the truth function (Spark)
def _outcome_batch(world: World, pdf: pd.DataFrame) -> pd.DataFrame:
    idx = pdf["_idx"].to_numpy(np.int64)
    users = np.unique(idx)
    tr = user_traits(world, users)
    rows = np.searchsorted(users, idx)
    start, end = pdf["_start"].to_numpy(np.int64), pdf["_end"].to_numpy(np.int64)
    merchant = pdf["merchant_id"].to_numpy(np.int64)
    pay = payments(world, users, 0, max(int(start.max()), 1), tr=tr)
    segment = segments_at(world, tr, pay, rows, merchant, start)
    rates = _Rates(world, tr, int(start.min()), int(end.max()))
    out = expected_outcomes(world, tr, rates, rows, merchant, start, end, segment,
                            pdf["discount_pct"].to_numpy(float), pdf["voucher_value"].to_numpy(float),
                            pdf["min_spend"].to_numpy(float))
    res = pdf.copy()
    for k, v in out.items():
        res[k] = v
    res["true_segment"] = np.asarray(SEGMENTS, dtype=object)[segment]
    return res


def promo_outcomes(world: World, pairs: DataFrame) -> DataFrame:
    """Exact expected outcomes of (user_id, merchant_id, start_date, end_date, discount_pct, voucher_value,
    min_spend) rows: adds :data:`PROMO_OUTCOME_COLUMNS` and ``true_segment`` (the promo contract).

    No Monte Carlo: closed-form expectations of the very processes that generate the raw tables, run with
    mapInPandas over the pairs (repartitioned by user so each customer's history is built once per
    batch). Rows whose user_id is not a world customer are dropped."""
    need = ["user_id", "merchant_id", "start_date", "end_date", "discount_pct", "voucher_value", "min_spend"]
    missing = [c for c in need if c not in pairs.columns]
    if missing:
        raise ValueError(f"promo_outcomes: pairs lack columns {missing} (needs {need})")
    clash = [c for c in (*PROMO_OUTCOME_COLUMNS, "true_segment") if c in pairs.columns]
    if clash:
        raise ValueError(f"promo_outcomes: pairs already have output columns {clash}")
    spark = pairs.sparkSession
    users = user_range(spark, world).select(F.col("idx").alias("_idx"), user_id(world, "idx").alias("user_id"))
    origin = F.lit(world.config.start_date)
    df = (pairs.join(users, "user_id")
          .withColumn("_start", F.datediff(F.col("start_date"), origin))
          .withColumn("_end", F.datediff(F.col("end_date"), origin))
          .withColumn("merchant_id", F.col("merchant_id").cast("long"))
          .withColumn("discount_pct", F.col("discount_pct").cast("double"))
          .withColumn("voucher_value", F.col("voucher_value").cast("double"))
          .withColumn("min_spend", F.col("min_spend").cast("double")))
    df = df.repartition("_idx").sortWithinPartitions("_idx")
    schema = T.StructType([*df.schema.fields, *[T.StructField(c, T.DoubleType()) for c in PROMO_OUTCOME_COLUMNS],
                           T.StructField("true_segment", T.StringType())])

    def apply(batches):
        for pdf in batches:
            if len(pdf):
                yield _outcome_batch(world, pdf)

    return df.mapInPandas(apply, schema=schema).drop("_idx", "_start", "_end")
