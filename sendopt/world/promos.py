"""Merchant promo campaigns, who was offered them, and who redeemed.

A campaign (merchant, dates, discount %, voucher, minimum spend, target
segment) is a pure function of its index. A user's segment for the merchant
comes from their own card payments there before the campaign starts
(new: none; active: within ``promos.active_days``; churned: older), so it is
observable in ``raw.card_transactions``. Redemption follows the true
``truth.promo_redeem_probability`` (segment, discount × latent sensitivity,
minimum spend).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from sendopt.world import truth
from sendopt.world.cards import payments
from sendopt.world.model import STORE_SLOTS, World
from sendopt.world.traits import user_traits

CAMPAIGNS_SCHEMA = (
    "campaign long, merchant_id long, region int, start_day int, end_day int, discount_pct int, "
    "voucher_value double, min_spend double, target_segment int"
)
OFFERS_SCHEMA = "campaign long, idx long, day int, sec double"
REDEMPTIONS_SCHEMA = "campaign long, idx long, store_id long, day int, sec double, basket double, discount double"
SEGMENTS = ("new", "active", "churned")


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
    }


def campaigns_rows(world: World, batch: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame(campaign_params(world, batch["idx"].to_numpy(np.int64)))


def _offers(world: World, idx: np.ndarray):
    """Per (user, campaign): offered mask, segment index, offer day — ``[n, C]`` arrays."""
    rng, p = world.rng, world.config.promos
    tr = user_traits(world, idx)
    cp = campaign_params(world, np.arange(p.campaigns))
    pay = payments(world, idx, 0, world.config.days)
    row = np.searchsorted(tr["idx"], pay["idx"])  # idx is sorted within a batch from spark.range
    last = np.full((len(idx), p.campaigns), -10**6)
    for c in range(p.campaigns):
        m = (pay["merchant_id"] == cp["merchant_id"][c]) & (pay["day"] < cp["start_day"][c])
        np.maximum.at(last[:, c], row[m], pay["day"][m])
    since = cp["start_day"][None, :] - last
    segment = np.where(last < -10**5, 0, np.where(since <= p.active_days, 1, 2))
    target = cp["target_segment"][None, :]  # 0 = all, else 1 + segment index
    key = tr["idx"][:, None]
    offered = (
        (tr["region"][:, None] == cp["region"][None, :])
        & ((target == 0) | (target - 1 == segment))
        & (tr["signup_day"][:, None] < cp["start_day"][None, :])
        & (rng.uniform("promo.offer", key, cp["campaign"][None, :]) < p.offer_rate)
    )
    day = cp["start_day"][None, :] + rng.integers("promo.offer_day", 3, key, cp["campaign"][None, :])
    return tr, cp, offered, segment, day


def offers_rows(world: World, batch: pd.DataFrame) -> pd.DataFrame:
    tr, cp, offered, _, day = _offers(world, np.sort(batch["idx"].to_numpy(np.int64)))
    u, c = np.nonzero(offered)
    sec = 9 * 3600.0 + 3600.0 * world.rng.uniform("promo.offer_s", tr["idx"][u], c)
    return pd.DataFrame({"campaign": c, "idx": tr["idx"][u], "day": day[u, c], "sec": sec})


def redemptions_rows(world: World, batch: pd.DataFrame) -> pd.DataFrame:
    rng = world.rng
    tr, cp, offered, segment, day = _offers(world, np.sort(batch["idx"].to_numpy(np.int64)))
    u, c = np.nonzero(offered)
    key = tr["idx"][u]
    p = truth.promo_redeem_probability(
        truth.NP, world, {"discount_sensitivity": tr["discount_sensitivity"][u]},
        truth.segment_shifts(world)[segment[u, c]], cp["discount_pct"][c].astype(float),
        cp["voucher_value"][c], cp["min_spend"][c],
    )
    hit = rng.uniform("promo.redeem", key, c) < p
    u, c, key = u[hit], c[hit], key[hit]
    rday = day[u, c] + rng.integers("promo.redeem_day", np.maximum(cp["end_day"][c] - day[u, c] + 1, 1), key, c)
    merchant = cp["merchant_id"][c]
    median = world.mcc_median_amount[world.merchant_mcc[merchant]]
    basket = np.maximum(
        cp["min_spend"][c],
        median * np.exp(0.3 * tr["discount_sensitivity"][u] + 0.6 * rng.normal("promo.basket", key, c)),
    )
    discount = np.minimum(basket, basket * cp["discount_pct"][c] / 100.0 + cp["voucher_value"][c])
    store = merchant * STORE_SLOTS + rng.integers("promo.store", world.merchant_stores[merchant], key, c)
    return pd.DataFrame({
        "campaign": c, "idx": key, "store_id": store, "day": rday,
        "sec": np.clip(13.0 + 3.0 * rng.normal("promo.redeem_s", key, c), 7.0, 23.0) * 3600.0,
        "basket": np.round(basket, 2), "discount": np.round(discount, 2),
    })


PROMO_OUTCOME_COLUMNS = ("orders_without", "gmv_without", "orders_with", "gmv_with", "expected_cost",
                         "expected_redemptions", "subsidised_redemptions")


def promo_outcomes(world: World, pairs):
    """Exact expected outcomes of (user_id, merchant_id, start_date, end_date, discount_pct, voucher_value,
    min_spend) rows: adds :data:`PROMO_OUTCOME_COLUMNS` and ``true_segment`` (see the promo contract)."""
    raise NotImplementedError("promo_outcomes: being built on branch promo-world")
