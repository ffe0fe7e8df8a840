"""The promo world: exact truth vs draws, no double counting, planted segment and min-spend effects,
random offers with a logged control group, and the Spark truth function."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from pyspark.sql import functions as F

from sendopt.world import promos, truth
from sendopt.world.cards import PROMO_PAIR, payments


@pytest.fixture(scope="module")
def played(world):
    """The 5,000-user test world's campaigns played once in numpy: traits, offers, baseline, recorded."""
    users = world.config.users
    batch = pd.DataFrame({"idx": np.arange(users, dtype=np.int64)})
    days = world.config.days
    tr, offers = promos.batch_offers(world, batch, 0, days)
    base = payments(world, batch["idx"].to_numpy(), 0, days, tr=tr)
    recorded, red = promos.apply_promos(world, tr, base, offers, 0, days)
    rates = promos._Rates(world, tr, int(offers["start"].min()), int(offers["end"].max()))
    truth_ = promos.expected_outcomes(world, tr, rates, offers["row"], offers["merchant"], offers["start"],
                                      offers["end"], offers["segment"], offers["pct"], offers["voucher"],
                                      offers["min_spend"])
    return tr, offers, base, recorded, red, truth_


def _realised_at_merchant(tr, offers, pay):
    """Per offer row: (orders, basket value before discount) of the user at the merchant in the window."""
    frame = pd.DataFrame({"row": promos._rows_of(tr, pay["idx"]), "merchant": pay["merchant_id"], "day": pay["day"],
                          "amount": pay["amount"]})
    o = pd.DataFrame({"i": np.arange(len(offers["row"])), "row": offers["row"], "merchant": offers["merchant"],
                      "start": offers["start"], "end": offers["end"]})
    j = o.merge(frame, on=["row", "merchant"])
    j = j[(j.day >= j.start) & (j.day <= j.end)]
    g = j.groupby("i").agg(n=("amount", "size"), v=("amount", "sum"))
    return (g.n.reindex(o.i, fill_value=0).to_numpy(float), g.v.reindex(o.i, fill_value=0).to_numpy(float))


def _close(realised: float, expected: float, var: float, z: float = 4.0) -> bool:
    return abs(realised - expected) <= z * np.sqrt(max(var, 1.0))


def test_truth_matches_the_drawn_outcomes(world, played):
    """Σ draws ≈ Σ exact expectations within 4 s.e.: control orders, offered redemptions (subsidised and
    incremental) and discount paid."""
    tr, offers, base, _, red, t = played
    n_control, _ = _realised_at_merchant(tr, offers, base)
    control = ~offers["offered"]
    # counts are Poisson (var = mean); a user in several campaigns of one merchant shares draws: a loose bound
    assert _close(n_control[control].sum(), t["orders_without"][control].sum(), t["orders_without"][control].sum())
    on = offers["offered"]
    subsidised = (red["pair"] != PROMO_PAIR).sum()
    incremental = (red["pair"] == PROMO_PAIR).sum()
    exp_sub, exp_inc = t["subsidised_redemptions"][on].sum(), (t["orders_with"] - t["orders_without"])[on].sum()
    assert subsidised > 50 and incremental > 50
    assert _close(subsidised, exp_sub, exp_sub) and _close(incremental, exp_inc, exp_inc)
    cost = t["expected_cost"][on].sum()
    per = red["discount"].mean()
    assert _close(red["discount"].sum(), cost, cost * (per + red["discount"].std() ** 2 / per))


def test_a_redeemed_order_is_one_payment_at_the_price_paid(world, played):
    tr, offers, base, recorded, red, _ = played
    keys = ["idx", "day", "src_day", "j", "pair", "promo"]
    rec = pd.DataFrame({k: recorded[k] for k in [*keys, "amount"]})
    assert not rec.duplicated(keys).any()
    n_inc = (red["pair"] == PROMO_PAIR).sum()
    assert len(rec) == len(base["idx"]) + n_inc  # redeemed baseline orders replaced, not duplicated
    joined = red.merge(rec, on=keys, how="left", validate="one_to_one")
    assert joined["amount"].notna().all()
    assert np.allclose(joined["amount"], joined["basket"] - joined["discount"], atol=0.011)
    assert (joined["discount"] <= joined["basket"] + 1e-9).all() and (joined["discount"] > 0).all()


def _grid(world, tr, rows, merchant, segment, start, end, designs):
    rates = promos._Rates(world, tr, int(start.min()), int(end.max()))
    out = {}
    for pct, voucher, min_spend in designs:
        n = len(rows)
        e = promos.expected_outcomes(world, tr, rates, rows, merchant, start, end, segment, np.full(n, float(pct)),
                                     np.full(n, float(voucher)), np.full(n, float(min_spend)))
        out[(pct, voucher, min_spend)] = {k: v.sum() for k, v in e.items()}
    return out


def _net(r):
    return r["gmv_with"] - r["gmv_without"] - r["expected_cost"]


def test_planted_segment_effects(world, played):
    """Active customers are mostly subsidised (a loss); new customers pay back strong offers most; churned
    customers peak at a medium reactivation offer; no promo changes nothing."""
    tr, offers, *_ = played
    designs = [(0, 0, 0), (10, 0, 0), (20, 0, 0), (30, 10, 0), (50, 10, 0)]
    res = {}
    for s, name in enumerate(promos.SEGMENTS):
        m = offers["segment"] == s
        assert m.sum() > 30, name
        res[name] = _grid(world, tr, offers["row"][m], offers["merchant"][m], offers["segment"][m],
                          offers["start"][m], offers["end"][m], designs)
    none = res["new"][(0, 0, 0)]
    assert none["orders_with"] == none["orders_without"] and none["expected_cost"] == 0
    active = res["active"][(20, 0, 0)]
    assert active["subsidised_redemptions"] / active["expected_redemptions"] > 0.7 and _net(active) < 0
    new = res["new"]
    assert _net(new[(30, 10, 0)]) > _net(new[(20, 0, 0)]) > _net(new[(10, 0, 0)]) > 0
    assert new[(20, 0, 0)]["subsidised_redemptions"] / new[(20, 0, 0)]["expected_redemptions"] < 0.3
    churned = {d: _net(r) for d, r in res["churned"].items()}
    assert churned[(30, 10, 0)] > churned[(10, 0, 0)] and churned[(30, 10, 0)] > churned[(50, 10, 0)]


def test_min_spend_tops_up_the_near_and_loses_the_far(world):
    """Closed-form basket moments ≈ Monte Carlo; a minimum spend raises the redeemed basket and lowers the
    share of orders that can use the promo."""
    rng = np.random.default_rng(0)
    mu, sigma = np.log(35.0), world.config.cards.amount_sigma
    a = np.exp(mu + sigma * rng.standard_normal(400_000))
    for pct, voucher, min_spend in [(20, 0, 0), (15, 5, 40), (30, 10, 20), (0, 10, 60)]:
        m = truth.promo_basket_moments(world, np.array([mu]), pct, voucher, min_spend)
        usable = a >= world.config.promos.near_share * min_spend
        b = np.maximum(a, min_spend)
        d = np.minimum(b, b * pct / 100 + voucher)
        for key, draw in (("usable", usable), ("basket", b * usable), ("topup", (b - a) * usable),
                          ("discount", d * usable)):
            assert abs(m[key][0] - draw.mean()) < 4 * draw.std() / np.sqrt(len(a)) + 1e-9, (key, pct, min_spend)
    free = truth.promo_basket_moments(world, np.array([mu]), 20, 0, 0)
    high = truth.promo_basket_moments(world, np.array([mu]), 20, 0, 40)
    assert high["basket"][0] / high["usable"][0] > free["basket"][0] / free["usable"][0]
    assert high["usable"][0] < 0.8 and free["usable"][0] == 1.0 and high["topup"][0] > 0


def test_cold_start_follows_region_and_device_priors(world):
    p = world.config.promos
    mid = np.full(4, 0.5)
    regions = np.array([world.region_names.index(r) for r in ("north", "south", "north", "south")])
    sens = truth.promo_sensitivity(world, mid, regions, np.array([0, 0, 1, 1]))  # ios, ios, android, android
    assert sens[1] > sens[0] and sens[3] > sens[2] > sens[0]
    assert p.sensitivity_region_shift["south"] > p.sensitivity_region_shift["north"]


def test_offers_are_random_with_a_logged_control_group(world, played):
    """Within a campaign, offered ~ Bernoulli(offer_probability) independent of segment and sensitivity."""
    tr, o, *_ = played
    assert set(np.unique(o["prob"])) <= set(world.config.promos.offer_probabilities)
    n, k = len(o["prob"]), o["offered"].sum()
    assert abs(k - o["prob"].sum()) < 4 * np.sqrt((o["prob"] * (1 - o["prob"])).sum())
    sens = truth.promo_sensitivity(world, tr["discount_sensitivity"][o["row"]], tr["region"][o["row"]],
                                   tr["device"][o["row"]])
    gap = sens[o["offered"]].mean() - sens[~o["offered"]].mean()
    assert abs(gap) < 4 * sens.std() * np.sqrt(1 / k + 1 / (n - k))
    assert not (o["offered"] & (tr["signup_day"][o["row"]] >= o["start"])).any()


def test_spark_tables_and_truth_function_agree(world_frames, world):
    """The generated tables are consistent (each redemption's card payment is at the price paid, control rows
    have no offer time) and promo_outcomes reproduces truth.promo_effects; a no-promo row costs nothing."""
    red, tx = world_frames["raw.promo_redemptions"], world_frames["raw.card_transactions"]
    j = red.join(tx.select("txn_id", "amount", F.col("merchant_id").alias("paid_at")), "txn_id", "left")
    bad = j.where(F.col("amount").isNull() | (F.abs(F.col("amount") - F.col("basket_amount")
                                                     + F.col("discount_amount")) > 0.011)
                  | (F.col("paid_at") != F.col("merchant_id"))).count()
    assert red.count() > 0 and bad == 0
    offers = world_frames["raw.promo_offers"]
    assert offers.where(F.col("offered") != F.col("offered_at").isNotNull()).count() == 0
    camp = world_frames["raw.promo_campaigns"].select("campaign_id", "start_date", "end_date", "discount_pct",
                                                      "voucher_value", "min_spend")
    eff = world_frames["truth.promo_effects"].sample(fraction=0.1, seed=1).join(camp, "campaign_id")
    pairs = eff.select("user_id", "merchant_id", "start_date", "end_date", "discount_pct", "voucher_value",
                       "min_spend", F.col("orders_with").alias("want"), F.col("segment").alias("seg"))
    none = pairs.limit(50).withColumn("discount_pct", F.lit(0.0)).withColumn("voucher_value", F.lit(0.0))
    got = promos.promo_outcomes(world, pairs.unionByName(none.withColumn("want", F.lit(None).cast("double"))))
    stats = got.agg(
        F.max(F.abs(F.col("want") - F.col("orders_with"))).alias("diff"),
        F.sum((F.col("seg") != F.col("true_segment")).cast("int")).alias("seg_diff"),
        F.max(F.when(F.col("want").isNull(), F.abs(F.col("orders_with") - F.col("orders_without"))
                     + F.col("expected_cost"))).alias("none")).first()
    assert stats["diff"] < 1e-9 and stats["seg_diff"] == 0 and stats["none"] == 0
    with pytest.raises(ValueError, match="min_spend"):
        promos.promo_outcomes(world, pairs.drop("min_spend"))


def test_plan_offers_from_simulation_inputs(world):
    """A plan's holdout rows are logged as control and never redeem; offered rows follow the truth."""
    users = np.arange(2000, dtype=np.int64)
    tr = promos.user_traits(world, users)
    merchant = 0
    region = world.merchant_region[merchant]
    mine = users[tr["region"] == region]
    day = world.config.days + 3
    cells = lambda v, dtype: [np.array([v], dtype=dtype) for _ in mine]  # noqa: E731
    batch = pd.DataFrame({"idx": mine, "promo_key": cells(123456789, np.int64),
                          "promo_merchant": cells(merchant, np.int64), "promo_pct": cells(30.0, float),
                          "promo_voucher": cells(10.0, float), "promo_min": cells(0.0, float),
                          "promo_start": cells(day, np.int64), "promo_end": cells(day + 6, np.int64),
                          "promo_offered": [np.array([i % 2 == 0]) for i in range(len(mine))],
                          "promo_prob": cells(0.5, float)})
    log = promos.offers_rows(world, batch, day, day + 1)
    assert len(log) == len(mine) and log["offered"].sum() == (len(mine) + 1) // 2
    assert np.isnan(log.loc[~log["offered"], "sec"]).all()
    red = pd.concat([promos.redemptions_rows(world, batch, d, d + 1) for d in range(day, day + 7)])
    assert len(red) > 0 and set(red["campaign"]) == {123456789}
    assert set(red["idx"]) <= set(mine[::2])
    assert promos.offers_rows(world, batch, day + 1, day + 2).empty  # logged on the start date only
