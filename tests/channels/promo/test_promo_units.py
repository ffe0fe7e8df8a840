"""Promo channel pieces on tiny hand-made data: segments, leakage, designer, simulator sums, budget and CPS,
request validation, exactly-once claims."""
from __future__ import annotations

import datetime as dt
import math
import types

import numpy as np
import pandas as pd
import pytest
from pyspark.sql import functions as F

from sendopt.channels.promo import designer, models, simulator, usage
from sendopt.channels.promo.config import DesignerConfig, PromoConfig, SegmentConfig
from sendopt.channels.promo.features import pair_features, with_usage
from sendopt.channels.promo.models import incremental_share
from sendopt.channels.promo.requests import RequestError, normalize_request, validate_request

AS_OF = dt.date(2026, 3, 1)
CUST = "user_id string, region string, device string, signup_date date, email_opt_in boolean, push_opt_in boolean"
PAY = "user_id string, merchant_id long, mcc string, amount double, event_date date"


def _pairs(spark, users):
    return spark.createDataFrame([("k", u, 7, "5812", AS_OF, AS_OF + dt.timedelta(days=9)) for u in users],
                                 "key string, user_id string, merchant_id long, mcc string, as_of date, "
                                 "end_date date")


def _customers(spark, users):
    return spark.createDataFrame([(u, "north", "ios", dt.date(2025, 1, 1), True, True) for u in users], CUST)


def _features(spark, payments, offers=None, redemptions=None):
    users = ["new", "act", "chu", "cold"]
    pay = spark.createDataFrame(payments, PAY)
    return {r["user_id"]: r.asDict() for r in pair_features(
        _pairs(spark, users), pay, _customers(spark, users), offers, redemptions, SegmentConfig(active_days=30,
                                                                                              history_days=90)
    ).collect()}


BASE_PAYMENTS = [
    ("new", 8, "5812", 20.0, AS_OF - dt.timedelta(days=3)),     # another merchant, same MCC
    ("act", 7, "5812", 30.0, AS_OF - dt.timedelta(days=30)),    # exactly active_days before: active
    ("chu", 7, "5812", 40.0, AS_OF - dt.timedelta(days=31)),    # one day older: churned
]


OFFERS = "campaign_id string, user_id string, offered boolean, offered_at timestamp"
REDEEMED = "campaign_id string, user_id string, redeemed_at timestamp"


def test_segment_boundaries_cold_start_and_the_leakage_rule(spark):
    """Segments at the day boundaries; payments, offers and redemptions on or after as_of change nothing."""
    before = dt.datetime(2026, 2, 1, 12)
    off, red = [("c0", "act", True, before)], [("c0", "act", before)]
    f = _features(spark, BASE_PAYMENTS, spark.createDataFrame(off, OFFERS), spark.createDataFrame(red, REDEEMED))
    assert {u: f[u]["segment"] for u in f} == {"new": "new", "act": "active", "chu": "churned", "cold": "new"}
    assert f["act"]["days_since_last"] == 30 and f["chu"]["days_since_last"] == 31
    assert f["new"]["mcc_orders"] == 1 and f["new"]["m_orders"] == 0
    assert f["cold"]["cold_start"] and not f["cold"]["has_payments"] and not f["new"]["cold_start"]
    assert f["act"]["past_offers"] == 1 and f["act"]["redeem_rate"] == 1.0
    later = dt.datetime.combine(AS_OF, dt.time(9))
    future = [(u, 7, "5812", 99.0, AS_OF + dt.timedelta(days=d)) for u in ("new", "act", "chu", "cold")
              for d in (0, 1, 5)]
    f1 = _features(spark, BASE_PAYMENTS + future,
                   spark.createDataFrame(off + [("c1", u, True, later) for u in ("new", "chu")], OFFERS),
                   spark.createDataFrame(red + [("c1", "chu", later)], REDEEMED))
    assert f == f1


def request(**over):
    r = {"merchant_id": 7, "start_date": "2026-03-10", "end_date": "2026-03-20", "budget": 100.0}
    r.update(over)
    return r


def test_request_validation_names_each_field():
    assert validate_request(request(), today=AS_OF) == []
    errs = {e.field for e in validate_request(request(budget=0, end_date="2026-03-01", discount_pct_min=40,
                                                      discount_pct_max=10, segments=["vip"], foo=1), today=AS_OF)}
    assert {"budget", "end_date", "discount_pct_min", "segments", "foo"} <= errs
    assert {e.field for e in validate_request(request(start_date="2026-02-01"), today=AS_OF)} == {"start_date"}
    with pytest.raises(RequestError, match="merchant_id: is required"):
        normalize_request({"start_date": "2026-03-10", "end_date": "2026-03-20", "budget": 5})
    none = validate_request(request(promo_types=["percent"], discount_pct_min=0, discount_pct_max=0))
    assert [e.field for e in none] == ["promo_types"]


def test_designer_stays_inside_the_guard_rails_and_centres_on_history():
    cfg = DesignerConfig(max_designs=6, discount_step=5, min_spend_step=10)
    row = normalize_request(request(discount_pct_min=10, discount_pct_max=20, voucher_values=[5],
                                    min_spend_min=0, min_spend_max=20))
    everything = designer.admissible(row, cfg)
    assert all(10 <= d.discount_pct <= 20 and d.voucher_value in (0, 5) and 0 <= d.min_spend <= 20
               for d in everything)
    assert len(everything) == 3 * 2 * 3
    history = [{"merchant_id": 7, "mcc": "5812", "discount_pct": p, "voucher_value": 0, "min_spend": 0, "ret": r}
               for p, r in ((10, 1.0), (20, 3.0), (15, 2.0))]
    centre, source = designer.centre(history, 7, "5812", cfg)
    assert (centre.discount_pct, source) == (20, "merchant")
    assert designer.centre(history, 8, "5812", cfg)[1] == "mcc"
    assert designer.centre(history, 8, "5999", cfg) == (designer.Design(cfg.prior_discount_pct, 0, 0), "prior")
    picked = designer.candidate_designs(row, centre, cfg)
    assert len(picked) == 6 and picked[0] == designer.Design(20, 0, 0)
    only_pct = normalize_request(request(promo_types=["percent"], discount_pct_min=5, discount_pct_max=5))
    assert [d.design_id for d in designer.admissible(only_pct, cfg)] == ["d5_v0_m0", "d5_v0_m10", "d5_v0_m20",
                                                                         "d5_v0_m30", "d5_v0_m40"]


def test_simulator_values_and_sums_by_hand(spark):
    cols = ("request_id string, user_id string, segment string, region string, design_id string, "
            "discount_pct double, voucher_value double, p0 double, p1 double, g0 double, g1 double, n0 double, "
            "n1 double, p_redeem_raw double, disc_r double, weight_orders double, weight_new_customers double")
    rows = [("r", "a", "new", "n", "d10", 10.0, 0.0, 0.1, 0.5, 40.0, 50.0, 1.0, 2.0, 0.4, 5.0, 0.0, 0.0),
            ("r", "b", "new", "n", "d10", 10.0, 0.0, 0.2, 0.6, 40.0, 50.0, 1.0, 1.0, 0.9, 5.0, 0.0, 0.0)]
    out = {r["user_id"]: r for r in simulator.with_values(spark.createDataFrame(rows, cols), 6.0).collect()}
    a, b = out["a"], out["b"]
    assert a["cost"] == pytest.approx(0.4 * 5) and a["inc_orders"] == pytest.approx(0.5 * 2 - 0.1)
    assert a["inc_gmv"] == pytest.approx(0.5 * 50 - 0.1 * 40) and a["value"] == pytest.approx(21 - 2)
    assert b["p_redeem"] == pytest.approx(0.6)  # a redemption is an order: capped at p1
    assert a["cost_var"] == pytest.approx(0.4 * 0.6 * 25)
    assert a["bucket"] == int(np.floor(np.arcsinh(19.0) * 6))
    s = simulator.sufficient_stats(spark.createDataFrame([a, b]).withColumn("bucket", F.lit(1))).collect()[0]
    assert s["n"] == 2 and s["cost"] == pytest.approx(2.0 + 3.0) and s["inc_gmv"] == pytest.approx(21 + 22)


def test_direct_effects_replace_the_arms_difference_in_the_values(spark):
    """With effect models (tau_net, tau_orders) the net value is tau_net and the incremental orders tau_orders;
    the cost still comes from the redemption and discount models."""
    cols = ("request_id string, user_id string, segment string, p0 double, p1 double, g0 double, g1 double, "
            "n0 double, n1 double, p_redeem_raw double, disc_r double, tau_net double, tau_orders double, "
            "weight_orders double, weight_new_customers double")
    rows = [("r", "a", "new", 0.1, 0.5, 40.0, 50.0, 1.0, 2.0, 0.4, 5.0, 3.0, 0.2, 0.0, 0.0)]
    a = simulator.with_values(spark.createDataFrame(rows, cols), 6.0).first()
    assert a["cost"] == pytest.approx(2.0) and a["inc_orders"] == pytest.approx(0.2)
    assert a["value"] == pytest.approx(3.0) and a["inc_gmv"] == pytest.approx(5.0)


def test_ipw_pseudo_outcomes_recover_a_planted_effect_and_calibration_maps_bins(spark):
    """The IPW pseudo-outcome's mean is the planted effect under each campaign's own offer probability; the
    calibration map is non-decreasing, linear between bins and flat outside them."""
    from sendopt.channels.promo.models import calibrated_effect, monotone, pseudo_outcomes

    rng = np.random.default_rng(3)
    n = 40_000
    e = rng.choice([0.2, 0.5], n)
    t = rng.uniform(size=n) < e
    base = rng.exponential(10.0, n)
    y = base + 4.0 * t + rng.normal(0, 5, n)
    pdf = pd.DataFrame({"offered": t, "propensity": e, "net_paid": y, "orders_all": 1.0 * t + 0.0,
                        "c_discount_pct": 10.0, "c_voucher_value": 0.0, "c_min_spend": 0.0,
                        "m_avg_amount": 30.0, "all_avg_amount": 30.0, "mcc_avg_amount": 30.0,
                        "mcc_median_amount": 30.0})
    out = pseudo_outcomes(None, spark.createDataFrame(pdf), "ipw").agg(
        F.avg("pseudo_net").alias("net"), F.stddev("pseudo_net").alias("sd"), F.avg("pseudo_orders").alias("o"))
    row = out.first()
    assert abs(row["net"] - 4.0) < 4 * row["sd"] / np.sqrt(n)
    assert row["o"] == pytest.approx(1.0, abs=0.05)
    assert monotone([1.0, 3.0, 2.0, 5.0], [1, 1, 1, 1]) == [1.0, 2.5, 2.5, 5.0]
    cal = {"tau_net": {"x": [0.0, 10.0], "y": [1.0, 3.0]}}
    vals = spark.createDataFrame([(-5.0,), (5.0,), (50.0,)], "tau_net double").select(
        calibrated_effect("tau_net", cal).alias("c")).collect()
    assert [r["c"] for r in vals] == pytest.approx([1.0, 2.0, 3.0])


def _stats(rows):
    keys = ["segment", "region", "design_id", "bucket", "n", "inc_gmv", "inc_orders", "cost"]
    df = pd.DataFrame([dict(zip(keys, r, strict=True)) for r in rows])
    return df.assign(request_id="r", cost_var=df["cost"], orders_var=df["inc_orders"], p_redeem=df["cost"] / 5,
                     redeem_var=df["cost"] / 5, new_inc=0.0, gmv=df["inc_gmv"])


STATS = _stats([("new", "n", "a", 9, 10, 60.0, 6.0, 20.0), ("new", "n", "a", 3, 10, 15.0, 1.0, 10.0),
                ("new", "n", "b", 9, 10, 90.0, 7.0, 60.0), ("new", "n", "b", 3, 10, 5.0, 0.5, 30.0),
                ("active", "s", "a", 1, 20, 4.0, 0.4, 20.0), ("active", "s", "b", 1, 20, 6.0, 0.5, 40.0)])
STRENGTH = {"a": 10.0, "b": 20.0}


def limits(**over):
    base = {"budget": 1000.0, "max_cps": None, "segments": ("new", "active"), "min_coverage": {},
            "weight_orders": 0.0, "weight_new": 0.0}
    return simulator.Limits(**{**base, **over})


def test_usage_columns_follow_the_promo_terms_by_hand(spark):
    """The usage model's design columns against the category's lognormal baskets, by quadrature; without category
    data the customer's usual basket stands in; Φ matches math.erf."""

    zs = [-3.0, -1.2, 0.0, 0.4, 2.5]
    got = usage.normal_cdf(np.array(zs))
    assert list(got) == pytest.approx([(1 + math.erf(z / math.sqrt(2))) / 2 for z in zs], abs=2e-7)
    cols = ("id string, discount_pct double, voucher_value double, min_spend double, mcc_median double, "
            "mcc_sigma double, exposure double, m_avg_amount double, all_avg_amount double, m_orders double, "
            "mcc_orders double")
    rows = [("m20", 10.0, 5.0, 20.0, 40.0, 0.5, 1.0, -1.0, 30.0, 3.0, 1.0),
            ("m0", 10.0, 5.0, 0.0, 40.0, 0.5, 1.0, -1.0, 30.0, 0.0, 2.0),
            ("nocat", 0.0, 60.0, 0.0, None, None, 0.0, -1.0, 30.0, 0.0, 0.0)]
    out = {r["id"]: r for r in with_usage(spark.createDataFrame(rows, cols), 0.7, 0.1).collect()}
    assert [out[k]["merchant_share"] for k in ("m20", "m0", "nocat")] == [0.75, 0.0, 0.0]  # of category payments
    z = np.linspace(-9, 9, 200_001)
    a = np.exp(np.log(40.0) + 0.5 * z)
    dens = np.exp(-z * z / 2) / np.sqrt(2 * np.pi) * (z[1] - z[0])
    usable = dens[a >= 14.0].sum()
    basket = (np.maximum(a, 20.0) * dens)[a >= 14.0].sum() / usable
    m20 = out["m20"]
    assert m20["strength_mcc"] == pytest.approx(0.1 + 5 / 40)
    assert m20["usable_share"] == pytest.approx(usable, abs=1e-5) and m20["promo_basket"] == pytest.approx(basket, rel=1e-4)
    assert m20["usage_weight"] == pytest.approx(usable * 1.1)
    assert out["m0"]["usable_share"] == 1.0 and out["m0"]["promo_basket"] == pytest.approx(40 * math.exp(0.125))
    nocat = out["nocat"]  # the usual basket (30) and the default spread; strength capped at 1
    assert nocat["strength_mcc"] == 1.0 and nocat["promo_basket"] == pytest.approx(30 * math.exp(0.32))
    assert nocat["usage_weight"] == pytest.approx(0.1)  # no category payments: the exposure floor alone


def test_usage_values_cost_by_the_terms_and_incremental_share():
    """With the usage model the cost is expected redemptions × the terms on the redeemed basket, the incremental
    orders the usage's incremental share, their GMV at that basket; the variances are Poisson."""
    # only the control arm of the T-learner (p0, g0): no treated arm (p1, g1, …) is scored per design
    c = {"segment": np.array(["new", "active"], dtype=object), "discount_pct": np.array([10.0, 30.0]),
         "voucher_value": np.array([5.0, 50.0]), "p0": np.array([0.1, 0.1]), "g0": np.array([40.0, 40.0]),
         "weight_orders": np.zeros(2), "weight_new_customers": np.zeros(2)}
    v = usage.expectations(c, np.array([0.2, 0.1]), np.array([0.15, 0.05]), np.array([50.0, 20.0]), 6.0)
    assert v["discount"][0] == pytest.approx(10.0) and v["cost"][0] == pytest.approx(2.0)
    assert v["cost_var"][0] == pytest.approx(0.2 * 100) and v["redeem_var"][0] == pytest.approx(0.2)
    assert v["inc_orders"][0] == pytest.approx(0.15) and v["inc_gmv"][0] == pytest.approx(7.5)
    assert v["gmv"][0] == pytest.approx(0.1 * 40 + 7.5)  # without the promo, plus what it adds
    assert v["value"][0] == pytest.approx(5.5) and v["new_inc"][0] == pytest.approx(0.15)
    assert v["bucket"][0] == int(np.floor(np.arcsinh(5.5) * 6))
    assert v["discount"][1] == pytest.approx(20.0)  # never more than the basket
    assert v["new_inc"][1] == 0.0  # acquisitions count for new customers only


def test_incremental_share_of_redemptions_from_planted_campaigns(spark):
    """Σ (orders per offered − per control) · offered / Σ redemptions of the offered, per segment and strength
    bin; campaigns with too few offered or control customers are left out; an empty bin takes its segment's
    pooled share, an unseen segment ``all``; the column picks the row's cell."""
    rows = []

    def camp(key, seg, strength, offered, control):  # (orders, redemptions) per offered; orders per control
        rows.extend((seg, key, strength, True, o, r) for o, r in offered)
        rows.extend((seg, key, strength, False, o, None) for o in control)

    camp("c1", "new", 0.3, [(1.0, 1)] * 10, [1.0] + [0.0] * 9)        # strong: +0.9 orders per offered, 1 redemption
    camp("c2", "new", 0.1, [(1.0, 1), (0.0, 0)] * 5, [1.0, 0.0] * 5)  # weak: no increment, 0.5 redemptions each
    camp("c3", "new", 0.1, [(3.0, 3)] * 3, [0.0] * 10)                # 3 offered: too few, left out
    camp("c4", "active", 0.1, [(1.0, 1)] * 10, [1.0] * 10)            # all subsidised
    df = spark.createDataFrame(rows, "segment string, key string, strength_mcc double, offered boolean, "
                                     "orders_all double, redemptions long")
    k = incremental_share(df, [0.2])
    assert k["edges"] == [0.2] and set(k["share"]) == {"new", "active", "all"}
    assert k["share"]["new"] == pytest.approx([0.0, 0.9])
    assert k["share"]["active"] == pytest.approx([0.0, 0.0])  # its strong bin: the segment's pooled share
    assert k["share"]["all"] == pytest.approx([9 / 25] * 2)
    got = usage.incremental_shares(np.array(["new", "new", "churned"], dtype=object), np.array([0.1, 0.5, 0.5]),
                                   np.zeros(3), k)
    assert list(got) == pytest.approx([0.0, 0.9, 9 / 25])

    # shrunk with `prior` redemptions' weight: segment towards all, bin towards its segment
    s = incremental_share(df, [0.2], prior=5.0)["share"]
    pooled = 9 / 25
    new_all = (9 + 5 * pooled) / (15 + 5)  # new: num 0 + 9, 5 + 10 redemptions
    assert s["all"] == pytest.approx([pooled] * 2)
    assert s["new"] == pytest.approx([(0 + 5 * new_all) / (5 + 5), (9 + 5 * new_all) / (10 + 5)])
    act_all = (0 + 5 * pooled) / (10 + 5)
    assert s["active"] == pytest.approx([(0 + 5 * act_all) / (10 + 5), act_all])  # the empty bin: its segment's


def test_cost_margin_leaves_room_for_the_cost_models_error():
    """The budget rule counts the predicted cost ``cost_margin`` higher: the plan's cost + z·sd fits
    budget / (1 + margin)."""
    prep = simulator.prepare(STATS)
    lim = limits(budget=15.0, cost_margin=0.5)
    p = simulator.build_plan(prep, STRENGTH, lim, simulator.PlanParams(split={"new": 1.0, "active": 0.0}))
    assert p.metrics["cost_p90"] == pytest.approx(10.0, abs=1e-3) and p.metrics["budget"] == 15.0 and p.feasible


def test_level_error_is_one_error_shared_by_the_whole_plan():
    """With ``level_sd`` the budget rule adds (level_sd·cost)² to the Bernoulli variance: the plan's
    cost + z·√(var + (0.2·cost)²) binds at the budget, and it reaches less than without the level error."""
    prep = simulator.prepare(STATS)
    plain, lim = limits(budget=15.0), limits(budget=15.0, level_sd=0.2)
    params = simulator.PlanParams(split={"new": 1.0, "active": 0.0})
    p, q = (simulator.build_plan(prep, STRENGTH, x, params) for x in (plain, lim))
    var = float((q.units["fraction"] * q.units["cost_var"]).sum())
    by_hand = q.metrics["cost"] + lim.z * np.sqrt(var + (0.2 * q.metrics["cost"]) ** 2)
    assert q.metrics["cost_p90"] == pytest.approx(by_hand) == pytest.approx(15.0, abs=1e-3) and q.feasible
    assert q.metrics["reached"] < p.metrics["reached"] and q.metrics["cost"] < p.metrics["cost"]


def test_level_error_of_campaigns_removes_the_poisson_noise_by_hand():
    """Σ((O − P)² − Σo²) / Σ P²: (O 10, Σo² 10, P 10) and (30, 40, 20) → (−10 + 100 − 40) / 500 = 0.1;
    counts within their own noise give 0 (not negative); campaigns predicted nothing are left out."""
    got = models.level_error([(10.0, 10.0, 10.0), (30.0, 40.0, 20.0), (3.0, 3.0, 0.0)])
    assert got["sd"] == pytest.approx(math.sqrt(0.1)) and got["campaigns"] == 2 and got["level"] == pytest.approx(4 / 3)
    assert models.level_error([(12.0, 12.0, 10.0), (8.0, 8.0, 10.0)])["sd"] == 0.0  # 4 − 12 + 4 − 8 < 0: noise
    assert models.level_error([])["sd"] == 0.0


def test_level_error_fallback_is_read_at_planning_time():
    """The champion stores what it measured; the fallback for too few campaigns is the config's at planning
    time, so changing ``level_error_fallback`` or ``level_error_min_campaigns`` needs no retrain."""
    cfg = PromoConfig().models
    measured = models.ModelSet({}, trained=False, usage={"level_error": {"sd": 0.17, "campaigns": 12, "folds": 10}})
    assert measured.level_sd(cfg) == pytest.approx(0.17)
    assert measured.level_sd(cfg.model_copy(update={"level_error_min_campaigns": 13})) == cfg.level_error_fallback
    few = cfg.model_copy(update={"level_error_min_campaigns": 13, "level_error_fallback": 0.5})
    assert measured.level_sd(few) == pytest.approx(0.5)
    assert models.ModelSet({}, trained=False).level_sd(cfg) == 0.0  # not measured (level_error_folds 0)


def test_a_merchants_unseen_campaigns_only_ever_tighten_its_budget():
    """Observed ÷ predicted redemptions of the merchant's campaigns in the level error's refits, shrunk with
    ``level_error_merchant_prior`` redemptions: under-prediction raises the cost the budget rule counts,
    over-prediction leaves it (a level measured on other designs may not carry to the plan's)."""
    cfg = PromoConfig().models  # level_error_merchant_prior 30 by default
    measured = models.ModelSet({}, trained=False, usage={"level_error": {
        "sd": 0.09, "campaigns": 57, "merchants": {"307": [83.0, 67.4], "52": [3.0, 4.2]}}})
    assert measured.merchant_cost_level(307, cfg) == pytest.approx((83 + 30) / (67.4 + 30))
    assert measured.merchant_cost_level(52, cfg) == 1.0  # over-predicted: not loosened
    assert measured.merchant_cost_level(999, cfg) == 1.0  # never ran a campaign
    off = cfg.model_copy(update={"level_error_merchant_prior": None})
    assert measured.merchant_cost_level(307, off) == 1.0
    assert models.ModelSet({}, trained=False).merchant_cost_level(307, cfg) == 1.0  # not measured
    limits = simulator.Limits(budget=116.0, max_cps=None, segments=("new",), min_coverage={}, weight_orders=0.0,
                              weight_new=0.0, cost_margin=measured.merchant_cost_level(307, cfg) - 1.0)
    assert limits.plan_budget == pytest.approx(116.0 / 1.16, rel=1e-3)


def test_plan_takes_positive_buckets_best_first_and_hand_sums():
    prep = simulator.prepare(STATS)
    p = simulator.build_plan(prep, STRENGTH, limits(), simulator.PlanParams())
    # new: a → 40 + 5 = 45, b → 30 (the loss-making bucket left out) → a; active: both lose → none
    assert p.designs == {"new": "a", "active": "none"}
    assert p.metrics["net_value"] == pytest.approx(45.0) and p.metrics["cost"] == pytest.approx(30.0)
    assert p.metrics["reach_new"] == pytest.approx(1.0) and p.metrics["reach_active"] == 0.0
    assert p.metrics["cps"] == pytest.approx(30.0 / 7.0) and p.feasible


def test_budget_is_met_with_the_configured_probability_by_a_partial_bucket():
    prep = simulator.prepare(STATS)
    lim = limits(budget=15.0)
    p = simulator.build_plan(prep, STRENGTH, lim, simulator.PlanParams(split={"new": 1.0, "active": 0.0}))
    z = lim.z
    assert p.metrics["cost"] + z * np.sqrt(p.units["fraction"].pow(1).mul(p.units["cost_var"]).sum()) <= 15 + 1e-6
    assert p.metrics["cost_p90"] == pytest.approx(15.0, abs=1e-3)  # the budget binds at 90%
    assert 0 < p.units["fraction"].iloc[0] < 1 and p.feasible


def test_cps_limit_trims_the_expensive_units_and_coverage_is_a_constraint():
    prep = simulator.prepare(STATS)
    p = simulator.build_plan(prep, STRENGTH, limits(max_cps=3.5), simulator.PlanParams())
    assert p.metrics["cps"] <= 3.5 and p.feasible and p.metrics["cost"] == pytest.approx(20.0)
    q = simulator.build_plan(prep, STRENGTH, limits(min_coverage={"active": 0.5}), simulator.PlanParams())
    assert q.metrics["reach_active"] == pytest.approx(0.5) and q.designs["active"] in ("a", "b")
    tight = simulator.build_plan(prep, STRENGTH, limits(budget=12.0, min_coverage={"active": 1.0}),
                                 simulator.PlanParams())
    assert not tight.feasible and tight.violations["budget"] > 0


def test_two_runs_claim_a_request_once(spark, lake_config, lake):
    from sendopt.channels.promo.plan import append_claims, to_claim, won_claims
    from sendopt.channels.promo.requests import request_frame
    from sendopt.channels.promo.tables import PROMO_REQUESTS

    lake.write(request_frame(spark, [normalize_request(request(request_id="r1")),
                                     normalize_request(request(request_id="r2"))]), PROMO_REQUESTS)
    log = types.SimpleNamespace(info=lambda *a, **k: None)
    runs = [types.SimpleNamespace(spark=spark, lake=lake, run_id=f"plan-{i}", log=log) for i in (1, 2)]
    wanted = to_claim(lake, [])
    assert wanted == [("r1", 1), ("r2", 1)]
    for run in runs:  # both saw the requests pending, both claim, then both check
        append_claims(run, wanted)
    assert won_claims(runs[0], wanted) == wanted and won_claims(runs[1], wanted) == []
    assert to_claim(lake, []) == [] and to_claim(lake, ["r2"]) == [("r2", 2)]
    assert PromoConfig().tuning.trials >= 1
    # a claim whose run died (no planned / failed status) is taken again once its lease is over
    from sendopt.channels.promo.tables import PROMO_REQUEST_STATUS

    lease, now = dt.timedelta(hours=3), dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
    assert to_claim(lake, [], lease) == []
    assert to_claim(lake, [], lease, now=now + dt.timedelta(hours=4)) == [("r1", 2), ("r2", 2)]
    lake.write(spark.createDataFrame([("r1", 1, "planned", "", now, None, None, "plan-1", "h")],
                                     PROMO_REQUEST_STATUS.schema),
               PROMO_REQUEST_STATUS, mode="append")
    assert to_claim(lake, [], lease, now=now + dt.timedelta(hours=4)) == [("r2", 2)]


def test_the_plans_control_group_is_chosen_on_top_of_the_budget():
    """With half of the chosen customers held back as the control group, the sums are the offered half's, and
    a binding budget buys more chosen customers."""
    loose = simulator.build_plan(simulator.prepare(STATS, offer_share=0.5), STRENGTH, limits(), simulator.PlanParams())
    # by hand (test_plan_takes_positive_buckets_best_first_and_hand_sums): design a for all 20 new customers,
    # net value 45 and cost 30 if all were offered; half are
    assert loose.designs == {"new": "a", "active": "none"} and loose.metrics["reach_new"] == pytest.approx(1.0)
    assert (loose.metrics["reached"], loose.metrics["offered"]) == (20.0, 10.0)
    assert loose.metrics["net_value"] == pytest.approx(22.5) and loose.metrics["cost"] == pytest.approx(15.0)
    lim, params = limits(budget=15.0), simulator.PlanParams(split={"new": 1.0, "active": 0.0})
    full = simulator.build_plan(simulator.prepare(STATS), STRENGTH, lim, params)
    half = simulator.build_plan(simulator.prepare(STATS, offer_share=0.5), STRENGTH, lim, params)
    assert full.metrics["cost_p90"] == pytest.approx(15.0, abs=1e-3) and full.metrics["offered"] == full.metrics["reached"]
    assert half.metrics["cost_p90"] <= 15.0 + 1e-6 and half.feasible
    assert half.metrics["reached"] > 1.5 * full.metrics["reached"]


def test_incremental_share_per_merchant_share_bin(spark):
    """With ``loyalty_edges`` each segment × strength bin is split by the customer's observed share of category
    payments at the merchant: loyal customers' redemptions are mostly subsidised, the others' incremental; a
    loyalty cell without campaigns takes its strength bin's pooled share; customers without category payments
    count as share 0."""
    rows = []

    def camp(key, m_orders, mcc_orders, offered, control):
        rows.extend(("churned", key, 0.3, True, o, r, m_orders, mcc_orders) for o, r in offered)
        rows.extend(("churned", key, 0.3, False, o, None, m_orders, mcc_orders) for o in control)

    camp("c1", 9.0, 1.0, [(1.0, 1)] * 10, [0.8] * 10)   # loyal (share 0.9): 0.2 of a redemption incremental
    camp("c1", 1.0, 9.0, [(1.0, 1)] * 10, [0.0] * 10)   # share 0.1: every redemption incremental
    camp("c2", 0.0, 0.0, [(0.5, 1)] * 10, [0.0] * 10)   # no category payments: share 0, 0.5 incremental
    df = spark.createDataFrame(rows, "segment string, key string, strength_mcc double, offered boolean, "
                                     "orders_all double, redemptions long, m_orders double, mcc_orders double")
    total = F.col("m_orders") + F.col("mcc_orders")  # the share with_usage computes
    df = df.withColumn("merchant_share", F.when(total > 0, F.col("m_orders") / total).otherwise(F.lit(0.0)))
    k = incremental_share(df, [0.2], loyalty_edges=[0.5])
    assert k["loyalty_edges"] == [0.5]
    low, high = (10 + 5) / 20, 0.2
    assert k["share"]["churned"] == pytest.approx([(15 + 2) / 30] * 2 + [low, high])  # weak bin: the segment's
    share = usage.merchant_share(np.array([9.0, 0.0, 9.0]), np.array([1.0, 3.0, 1.0]))
    got = usage.incremental_shares(np.array(["churned"] * 3, dtype=object), np.array([0.3, 0.3, 0.1]), share, k)
    assert list(got) == pytest.approx([high, low, 17 / 30])


def test_merchant_levels_scale_known_merchants_only():
    """Each row's merchant level; a merchant without campaigns (or no levels at all) keeps the model's rate."""
    ids = np.array([52.0, 7.0, np.nan])  # merchant ids as the scoring batch carries them (float64, null NaN)
    assert list(usage.merchant_levels(ids, {"52": 0.8, "307": 1.2})) == pytest.approx([0.8, 1.0, 1.0])
    assert list(usage.merchant_levels(ids, {})) == [1.0] * 3


def test_calibrated_rate_scales_by_the_interpolated_ratio_and_keeps_the_tails_ranked():
    """Rates times observed ÷ predicted, linear between the bins' mean rates, the end ratios beyond them."""
    cal = {"x": [0.1, 0.2], "y": [0.05, 0.2], "ratio": [0.5, 1.0]}
    got = usage.calibrated_rates(np.array([0.05, 0.1, 0.15, 0.2, 0.4, 0.8]), cal)
    assert list(got) == pytest.approx([0.025, 0.05, 0.15 * 0.75, 0.2, 0.4, 0.8])


def test_merchant_levels_and_rate_calibration_from_a_real_usage_model_by_hand(spark):
    """A LightGBM usage model that predicts 0.2 redemptions per unit of weight everywhere: each merchant's level
    is (Σ observed + prior) / (Σ 0.2·weight + prior) over its offered rows only, and the rate calibration's one
    bin maps 0.2 to Σ observed / Σ weight."""
    import lightgbm as lgb

    from sendopt.channels.promo.features import USAGE_FEATURES
    from sendopt.channels.promo.models import PromoModel, merchant_level, offered_rates, rate_calibration

    x = np.random.default_rng(0).uniform(size=(50, len(USAGE_FEATURES)))
    booster = lgb.train({"objective": "regression", "verbose": -1, "min_data_in_leaf": 100},
                        lgb.Dataset(x, np.full(50, 0.2)), num_boost_round=1)
    model = PromoModel("usage", booster.model_to_string(), list(USAGE_FEATURES), None)
    rows = [  # merchant, offered, redemptions, usage weight
        (1, True, 1, 5.0), (1, True, 0, 5.0), (1, False, 9, 5.0), (2, True, 3, 10.0), (2, True, None, 10.0)]
    cols = ", ".join(f"{f} double" for f in USAGE_FEATURES)
    df = spark.createDataFrame([(m, o, r, w, *([0.5] * len(USAGE_FEATURES))) for m, o, r, w in rows],
                               f"merchant_id int, offered boolean, redemptions int, usage_weight double, {cols}")
    offered = offered_rates(model, df)
    levels = merchant_level(offered, prior=2.0)
    assert levels == pytest.approx({"1": (1 + 2) / (0.2 * 10 + 2), "2": (3 + 2) / (0.2 * 20 + 2)})
    cal = rate_calibration(offered, bins=4)
    assert cal["x"] == pytest.approx([0.2]) and cal["y"] == pytest.approx([4 / 30])
    assert cal["ratio"] == pytest.approx([4 / 30 / 0.2])


def test_proof_table_prints_the_tuned_plans_cost_error():
    """The proof table ends with the tuned plan's true ÷ predicted cost (what decides whether a budget holds),
    and leaves it out when the plan predicted no cost."""
    from sendopt.evaluation.promo_policy import format_request

    m = {"net_value": 90.0, "incremental_gmv": 150.0, "cost": 60.0, "incremental_orders": 6.0, "cps": 10.0,
         "reached": 100.0, "within_budget": True, "within_cps": True}
    req = {"merchant_id": 7, "budget": 100.0, "max_cps": None}
    tuned = {**m, "vs_best_fixed": 0.9, "vs_oracle": 0.8, "predicted_net_value": 120.0, "predicted_cost": 50.0}
    lines = format_request("r1", req, {"tuned": ("published assignments", tuned), "best_fixed": ("d5 for all", m)})
    assert lines[-1] == "  tuned cost: predicted 50.0, true 60.0 (true ÷ predicted 1.20)"
    lines = format_request("r1", req, {"tuned": ("published assignments", {**tuned, "predicted_cost": 0.0})})
    assert "tuned cost" not in lines[-1] and lines[-1].startswith("  tuned / best fixed = 0.90")


def _tiny_models(rng):
    """Real (tiny) LightGBM boosters for the control arm and the usage model, on random features."""
    import lightgbm as lgb

    from sendopt.channels.promo.models import KINDS, USAGE_KINDS, ModelSet, PromoModel

    out = {}
    for kind, spec in {**{k: KINDS[k] for k in ("order0", "basket", "orders")}, **USAGE_KINDS}.items():
        feats = list(spec[1])
        x = rng.uniform(0, 3, size=(300, len(feats)))
        y = (x[:, 0] > 1.5).astype(float) if kind == "order0" else x[:, 1] * 0.1 + x[:, -1] * 0.05
        obj = "binary" if kind == "order0" else "regression"
        booster = lgb.train({"objective": obj, "verbose": -1, "min_data_in_leaf": 10}, lgb.Dataset(x, y),
                            num_boost_round=5)
        out[kind] = PromoModel(kind, booster.model_to_string(), feats, None)
    share = {"edges": [0.2], "loyalty_edges": [0.5], "share": {"all": [0.3] * 4, "new": [0.1, 0.2, 0.6, 0.9]}}
    return ModelSet(out, trained=False, usage={"near_share": 0.7, "exposure_floor": 0.1, "incremental_share": share,
                                               "merchant_level": {"7": 1.3},
                                               "rate_calibration": {"x": [0.1, 0.3], "ratio": [0.8, 1.1]}})


def test_fused_statistics_equal_the_scored_rows_summed(spark):
    """The fused pass (customers crossed with their request's designs inside the worker, in chunks) gives the
    statistics of the customer × design rows scored one by one and summed in Spark."""
    import pyarrow as pa

    from sendopt.channels.promo.features import CUSTOMER_FEATURES, USAGE_FEATURES
    from sendopt.channels.promo.models import control_predictions

    rng = np.random.default_rng(5)
    models = _tiny_models(rng)
    n = 40
    cols = {c: rng.uniform(0, 3, n) for c in dict.fromkeys([*CUSTOMER_FEATURES, *USAGE_FEATURES])
            if c not in ("discount_pct", "voucher_value", "strength_mcc")}
    cols.update({"m_avg_amount": rng.choice([-1.0, 25.0], n), "all_avg_amount": rng.uniform(10, 60, n),
                 "mcc_median": np.where(np.arange(n) % 7 == 0, np.nan, 30.0), "mcc_sigma": np.full(n, 0.6),
                 "m_orders": rng.integers(0, 4, n).astype(float), "mcc_orders": rng.integers(0, 4, n).astype(float),
                 "exposure": rng.uniform(0, 5, n)})
    pdf = pd.DataFrame(cols).assign(
        user_id=[f"u{i}" for i in range(n)], request_id=np.where(np.arange(n) < 25, "r1", "r2"),
        segment=rng.choice(["new", "active", "churned"], n), region=rng.choice(["north", "south"], n),
        merchant_id=np.where(np.arange(n) < 25, 7, 9), weight_orders=np.where(np.arange(n) < 25, 0.0, 2.0),
        weight_new_customers=np.where(np.arange(n) < 25, 5.0, 0.0))
    base = spark.createDataFrame(pdf)
    designs = spark.createDataFrame(
        [("r1", "d10", 10.0, 0.0, 0.0), ("r1", "d20m30", 20.0, 0.0, 30.0), ("r1", "v5", 0.0, 5.0, 0.0),
         ("r2", "d5", 5.0, 0.0, 10.0), ("r2", "d15v5", 15.0, 5.0, 0.0)],
        "request_id string, design_id string, discount_pct double, voucher_value double, min_spend double")
    order = ["request_id", "segment", "region", "design_id", "bucket"]
    fused = simulator.candidate_stats(base, designs, models, 6.0).toPandas().sort_values(order).reset_index(drop=True)
    rows = simulator.score_candidates(base, designs, models, 6.0)
    summed = simulator.sufficient_stats(rows).toPandas().sort_values(order).reset_index(drop=True)
    assert fused["n"].sum() == 25 * 3 + 15 * 2 and len(fused) == len(summed)
    pd.testing.assert_frame_equal(fused[order], summed[order], check_dtype=False)
    for c in simulator.STAT_COLS:
        assert fused[c].to_numpy() == pytest.approx(summed[c].to_numpy(), rel=1e-9, abs=1e-12), c
    assert fused["inc_gmv"].abs().sum() > 0 and fused["cost"].sum() > 0  # not all zero

    # chunks of 4 products inside a batch: the same sums
    by_request = {rid: d.reset_index(drop=True) for rid, d in designs.toPandas().groupby("request_id")}
    batch = pa.RecordBatch.from_pandas(control_predictions(base, models).toPandas(), preserve_index=False)
    model = models.models["usage"]
    parts = list(usage.stats_batches(iter([batch]), by_request, simulator._rate_of(base, model), models.usage,
                                     list(model.features), 6.0, simulator.STAT_COLS, max_rows=4))
    chunked = pd.concat([p.to_pandas() for p in parts]).groupby(order, as_index=False)[simulator.STAT_COLS].sum()
    chunked = chunked.sort_values(order).reset_index(drop=True)
    assert chunked["cost"].to_numpy() == pytest.approx(fused["cost"].to_numpy(), rel=1e-9)
    one = rows.where((F.col("user_id") == "u3") & (F.col("design_id") == "d20m30")).first()
    assert one["usage"] == pytest.approx(one["usage_rate_hat"] * one["usage_weight"] * 1.3)  # merchant 7's level
    assert one["cost"] == pytest.approx(one["usage"] * min(one["promo_basket"], 0.2 * one["promo_basket"]))


def test_a_replan_of_the_same_statistics_in_another_row_order_reaches_the_same_customers():
    """Spark returns the statistics in no fixed order; units of equal value per budget (here two buckets of
    design a with the same sums, where the budget takes only part of them) must be taken the same way."""
    ties = pd.concat([STATS, STATS[STATS["bucket"] == 9].assign(bucket=8)], ignore_index=True)
    lim, params = limits(budget=40.0), simulator.PlanParams(split={"new": 1.0, "active": 0.0})
    plans = [simulator.build_plan(simulator.prepare(s), STRENGTH, lim, params)
             for s in (ties, ties.iloc[::-1], ties.sample(frac=1.0, random_state=3))]
    taken = [p.units.sort_values(simulator.UNIT_KEYS)[[*simulator.UNIT_KEYS, "fraction"]].reset_index(drop=True)
             for p in plans]
    assert 0 < taken[0]["fraction"].sum() < 3  # the budget binds inside the tied buckets
    for other in taken[1:]:
        pd.testing.assert_frame_equal(taken[0], other)
