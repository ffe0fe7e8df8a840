"""Uplift metrics on hand-computed examples (values cross-checked against scikit-uplift 0.5.1)."""
from __future__ import annotations

import numpy as np
import pytest

from sendopt.channels.coupons import metrics as m

# 12 customers: outcome, treatment, score (two ties at .8 and .3)
Y = [1, 0, 1, 1, 0, 0, 1, 0, 0, 1, 0, 1]
T = [1, 0, 1, 1, 0, 1, 0, 0, 1, 0, 1, 0]
S = [.9, .8, .8, .7, .6, .5, .4, .3, .3, .2, .1, .05]


@pytest.fixture(scope="module")
def small(spark):
    rows = [(f"u{i}", y, t, s) for i, (y, t, s) in enumerate(zip(Y, T, S, strict=True))]
    return spark.createDataFrame(rows, "user_id string, y int, t int, s double")


def test_qini_and_uplift_curves_match_sklift(small):
    c = m.uplift_curves(small, "s", "t", "y")
    assert c.exact
    # by hand: top row treated & converted → 1; the .8 tie adds a treated converter and a control
    # non-converter → Y_T − Y_C·N_T/N_C = 2 − 0·2/1 = 2 at x = 3
    np.testing.assert_array_equal(c.x, [0, 1, 3, 4, 5, 6, 7, 9, 10, 11, 12])
    np.testing.assert_allclose(c.qini, [0, 1, 2, 3, 3, 3, 5 / 3, 1.75, 1, 0.6, 0])
    np.testing.assert_allclose(c.uplift, [0, 1, 3, 4, 5, 4.5, 35 / 12, 3.15, 2, 1.1, 0])
    assert c.qini_coefficient == pytest.approx(0.7490740740740741)  # sklift qini_auc_score
    assert c.auuc == pytest.approx(0.7827160493827161)  # sklift uplift_auc_score
    assert c.qini_area == pytest.approx(0.1404513888888889)  # (auc − random line) / n²
    assert c.uplift_area == pytest.approx(0.2201388888888889)


def test_uplift_at_k_matches_sklift(small):
    # top int(12·0.5) = 6 rows: treated 4 with 3 converters, controls 2 with 0 → 0.75
    assert m.uplift_at_k(small, "s", "t", "y", k=0.5) == pytest.approx(0.75)
    with pytest.raises(m.MetricError, match="k must be in"):
        m.uplift_at_k(small, "s", "t", "y", k=1.5)


def test_buckets_approximate_the_exact_curve_and_bootstrap_brackets_it(spark):
    rng = np.random.default_rng(3)
    n = 4000
    x = rng.uniform(size=n)
    t = rng.integers(0, 2, n)
    y = (rng.uniform(size=n) < 0.2 + 0.3 * t * x).astype(int)
    df = spark.createDataFrame([(f"u{i}", int(a), int(b), float(c)) for i, (a, b, c) in
                                enumerate(zip(y, t, x, strict=True))], "user_id string, y int, t int, s double")
    exact = m.uplift_curves(df, "s", "t", "y", grid=5000)
    approx = m.uplift_curves(df, "s", "t", "y", grid=200, bootstrap=40)
    assert exact.exact and not approx.exact
    assert approx.qini_coefficient == pytest.approx(exact.qini_coefficient, abs=0.02)
    lo, hi = approx.intervals["qini_coefficient"]
    assert lo < approx.qini_coefficient < hi and lo > 0  # the score carries real uplift
    lo, hi = approx.intervals["qini_area"]
    assert lo < approx.qini_area < hi


def test_curves_refuse_one_armed_data(spark):
    df = spark.createDataFrame([("a", 1, 1, 0.1), ("b", 0, 1, 0.2)], "user_id string, y int, t int, s double")
    with pytest.raises(m.MetricError, match="treated and control"):
        m.uplift_curves(df, "s", "t", "y")


def test_ips_and_dr_policy_value_by_hand(spark):
    # arms 0/1 logged with propensity 0.5; the policy treats u1, u2 (arm 1), not u3, u4
    rows = [("u1", 1, 0.5, 10.0, 1, 4.0, 8.0), ("u2", 0, 0.5, 2.0, 1, 1.0, 5.0),
            ("u3", 0, 0.5, 3.0, 0, 2.0, 6.0), ("u4", 1, 0.5, 7.0, 0, 3.0, 3.0)]
    df = spark.createDataFrame(rows, "user_id string, arm int, propensity double, net double, pi int, "
                                     "mu0 double, mu1 double")
    v = m.policy_value(df, "pi", outcome="net", mu=["mu0", "mu1"])
    # IPS: matches are u1 (10/0.5) and u3 (3/0.5): (20 + 6) / 4 = 6.5; SNIPS: 26 / (2 + 2) = 6.5
    assert v.ips == pytest.approx(6.5) and v.snips == pytest.approx(6.5)
    # DR: u1 8 + (10 − 8)/.5 = 12; u2 5; u3 2 + (3 − 2)/.5 = 4; u4 3 → 24 / 4 = 6
    assert v.dr == pytest.approx(6.0)
    assert v.match_share == pytest.approx(0.5)
    lo, hi = v.interval("dr")
    assert lo < 6.0 < hi


def test_budget_curve_walks_from_nothing_to_everything(spark):
    # one coupon arm; gain 3, 1, −1 at cost 1 each; outcomes equal the model (DR = model)
    rows = [("a", 0, 0.5, 0.0, 0.0, 3.0, 1.0), ("b", 1, 0.5, 1.0, 1.0, 1.0, 1.0), ("c", 1, 0.5, -1.0, 1.0, -1.0, 1.0)]
    df = spark.createDataFrame(rows, "user_id string, arm int, propensity double, y double, c double, "
                                     "g1 double, c1 double").withColumn("zero", m.F.lit(0.0))
    vs = m.dr_scores("arm", "propensity", "y", ["zero", "g1"])
    cs = m.dr_scores("arm", "propensity", "c", ["zero", "c1"])
    curve = m.budget_curve(df, ["zero", "g1"], ["zero", "c1"], vs, cs, [10.0, 2.0, 0.5, -5.0])
    treated = [round(p["treated_share"] * 3) for p in curve]
    assert treated == [0, 1, 2, 3]  # λ descending: nobody, then best ratio first, then everyone
    assert curve[0]["spend"] == pytest.approx(0.0)
