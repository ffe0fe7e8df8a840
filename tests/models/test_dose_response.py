"""The dose-response head: recovery of a planted curve, structural zeros, Spark composition = numpy."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from sendopt.models.dose_response import DoseResponse, compose, fit_dose_response
from sendopt.models.spec import ModelError

LEVELS = tuple(range(8))


def planted(n: int, seed: int = 1):
    """Base logits, k, labels drawn from base + a known concave purchase curve and linear fatigue."""
    rng = np.random.default_rng(seed)
    base = np.c_[np.zeros(n), rng.normal(-2.2, 0.5, n), rng.normal(-5.0, 0.3, n)]
    k = rng.integers(0, 8, n).astype(float)
    purchase = 0.9 * (1 - np.exp(-k / 2)) - 0.9 * (1 - np.exp(-1.5))
    unsub = np.where(k > 0, 0.3 * (k - 3), -np.inf)
    z = base + np.c_[np.zeros(n), purchase, unsub]
    p = np.exp(z - z.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    y = (rng.uniform(size=(n, 1)) > p.cumsum(1)).sum(1)
    return base, k, y, purchase, np.where(k > 0, 0.3 * (k - 3), 0.0)


def test_recovers_a_planted_curve_and_keeps_the_anchor_and_reference_at_zero():
    base, k, y, _, _ = planted(40_000)
    head = fit_dose_response(base, k, y, None, treatment="k", levels=LEVELS, anchor=3.0, zeros={2: (0.0,)},
                             ridge=1.0, smoothness=50.0)
    delta = np.array(head.delta)
    true_purchase = 0.9 * (1 - np.exp(-np.arange(8) / 2)) - 0.9 * (1 - np.exp(-1.5))
    true_unsub = 0.3 * (np.arange(8) - 3)
    assert np.all(delta[:, 0] == 0) and np.all(delta[3] == 0)
    assert np.abs(delta[:, 1] - true_purchase).max() < 0.15
    assert np.abs(delta[1:, 2] - true_unsub[1:]).max() < 0.35
    assert delta[0, 2] == 0  # structurally impossible: not a parameter


def test_smoothness_pulls_a_noisy_curve_towards_a_line():
    base, k, y, _, _ = planted(3_000, seed=5)
    rough = np.array(fit_dose_response(base, k, y, None, treatment="k", levels=LEVELS, anchor=3.0,
                                       zeros={2: (0.0,)}, smoothness=0.0).delta)[:, 1]
    smooth = np.array(fit_dose_response(base, k, y, None, treatment="k", levels=LEVELS, anchor=3.0,
                                        zeros={2: (0.0,)}, smoothness=1e5).delta)[:, 1]
    assert np.abs(np.diff(smooth, 2)).max() < 0.02 < np.abs(np.diff(rough, 2)).max()


def test_a_log1p_prior_keeps_the_steep_first_emails_of_a_saturating_curve_on_thin_data():
    # saturation 1 email/week: most of the purchase gain comes with the first email. On thin randomized data
    # a straight-line prior in k flattens that step (it made the head send 0/week); a line in log(1 + k) does not.
    rng = np.random.default_rng(3)
    true = 0.9 * (1 - np.exp(-np.arange(8.0))) - 0.9 * (1 - np.exp(-2.0))
    errors = {"linear": [], "log1p": []}
    for _ in range(6):
        n = 1_500
        base = np.c_[np.zeros(n), rng.normal(-2.4, 0.8, n), rng.normal(-5.6, 0.6, n)]
        k = rng.integers(0, 8, n).astype(float)
        z = base + np.c_[np.zeros(n), true[k.astype(int)], np.where(k > 0, 0.35 * (k - 2), -np.inf)]
        p = np.exp(z - z.max(1, keepdims=True))
        y = (rng.uniform(size=(n, 1)) > (p / p.sum(1, keepdims=True)).cumsum(1)).sum(1)
        for scale in errors:
            head = fit_dose_response(base, k, y, None, treatment="k", levels=LEVELS, anchor=2.0, zeros={2: (0.0,)},
                                     ridge=0.1, smoothness=30.0, scales={1: scale})
            errors[scale].append(np.array(head.delta)[0, 1] - true[0])  # the loss from stopping email
    assert np.mean(errors["linear"]) > 0.15  # underestimates the loss of sending nothing by > 0.15 logits
    assert abs(np.mean(errors["log1p"])) < np.mean(errors["linear"]) - 0.1  # same data, less than half the bias
    with pytest.raises(ModelError, match="scale"):
        fit_dose_response(base, k, y, None, treatment="k", levels=LEVELS, anchor=2.0, scales={1: "cubic"},
                          smoothness=1.0)


def test_json_round_trip_and_unknown_levels_fail_clearly():
    head = DoseResponse("k", (0.0, 1.0, 2.0), 1.0, ((0, -0.5, 0), (0, 0, 0), (0, 0.2, 0.1)), {2: (0.0,)}, 10)
    assert DoseResponse.from_json(head.to_json()) == head
    with pytest.raises(ModelError, match="not levels"):
        head.level_index(np.array([0.0, 5.0]))


def test_spark_composition_matches_numpy_softmax_with_structural_zeros(spark):
    head = DoseResponse("k", (0.0, 1.0, 2.0), 1.0, ((0, -0.5, 0), (0, 0, 0), (0, 0.2, 0.1)), {2: (0.0,)}, 10)
    raw = pd.DataFrame({"r0": [0.0, 0.0, 0.0], "r1": [-2.0, -1.0, 0.5], "r2": [-4.0, -3.0, -5.0],
                        "k": [0.0, 1.0, 2.0]})
    out = compose(spark.createDataFrame(raw), ["r0", "r1", "r2"], "k", head, ["p0", "p1", "p2"]).toPandas()
    delta = np.array(head.delta)
    z = raw[["r0", "r1", "r2"]].to_numpy() + delta[[0, 1, 2]]
    z[0, 2] = -np.inf  # no email, no unsubscribe
    expected = np.exp(z) / np.exp(z).sum(1, keepdims=True)
    np.testing.assert_allclose(out[["p0", "p1", "p2"]].to_numpy(), expected, rtol=1e-12)
    assert out.loc[0, "p2"] == 0.0
    np.testing.assert_allclose(out[["p0", "p1", "p2"]].sum(1), 1.0)


def test_a_thin_market_shrunk_towards_the_pooled_curve_is_closer_to_the_truth():
    # the same k-curve in every market (the world's region and brand shifts move base rates, not the curve):
    # a market with 600 randomized weeks alone is noisy; pulled towards the curve of every market's 6,000 it
    # is not, and a prior with other levels is refused
    true_purchase = 0.9 * (1 - np.exp(-np.arange(8) / 2)) - 0.9 * (1 - np.exp(-1.5))
    errors = {"alone": [], "shrunk": []}
    for seed in range(5):
        pool = planted(6_000, seed=100 + seed)
        shared = fit_dose_response(*pool[:3], None, treatment="k", levels=LEVELS, anchor=3.0, zeros={2: (0.0,)},
                                   ridge=0.1, smoothness=30.0)
        base, k, y, _, _ = planted(600, seed=seed)
        for name, strength in (("alone", 0.0), ("shrunk", 20.0)):
            head = fit_dose_response(base, k, y, None, treatment="k", levels=LEVELS, anchor=3.0,
                                     zeros={2: (0.0,)}, ridge=0.1, smoothness=30.0, prior=shared,
                                     prior_strength=strength)
            errors[name].append(np.abs(np.array(head.delta)[:, 1] - true_purchase).mean())
    assert np.mean(errors["shrunk"]) < 0.7 * np.mean(errors["alone"])
    other = DoseResponse("k", LEVELS, 2.0, shared.delta, shared.zeros)
    with pytest.raises(ModelError, match="prior head"):
        fit_dose_response(base, k, y, None, treatment="k", levels=LEVELS, anchor=3.0, prior=other, prior_strength=1.0)


def test_carry_over_of_last_periods_dose_is_recovered_and_composed_at_steady_state(spark):
    """A planted fatigue memory (last week's k raises this week's unsubscribe logit by 0.09 per email, with
    last week's k randomized too) is recovered by the carry-over slope; the curve itself stays recovered.
    Composed without ``prev`` the head values keeping k every week; with ``prev`` the week after that dose."""
    from pyspark.sql import functions as F

    base, k, _, _, _ = planted(60_000, seed=3)
    rng = np.random.default_rng(4)
    prev = rng.integers(0, 8, len(k)).astype(float)
    purchase = 0.9 * (1 - np.exp(-k / 2)) - 0.9 * (1 - np.exp(-1.5))
    unsub = np.where(k > 0, 0.3 * (k - 3) + 0.09 * (prev - 3), -np.inf)
    z = base + np.c_[np.zeros(len(k)), purchase, unsub]
    p = np.exp(z - z.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    y = (rng.uniform(size=(len(k), 1)) > p.cumsum(1)).sum(1)
    head = fit_dose_response(base, k, y, None, treatment="k", levels=LEVELS, anchor=3.0, zeros={2: (0.0,)},
                             ridge=1.0, smoothness=50.0, prev=prev, carry_feature="sends_7d")
    assert head.carry_feature == "sends_7d" and head.carry[0] == 0.0
    assert head.carry[2] == pytest.approx(0.09, abs=0.04) and abs(head.carry[1]) < 0.04
    assert np.abs(np.array(head.delta)[1:, 2] - 0.3 * (np.arange(1, 8) - 3)).max() < 0.35
    assert DoseResponse.from_json(head.to_json()) == head
    only = fit_dose_response(base, k, y, None, treatment="k", levels=LEVELS, anchor=3.0, zeros={2: (0.0,)},
                             ridge=1.0, smoothness=50.0, prev=prev, carry_feature="sends_7d", carry_classes=[2])
    assert only.carry[:2] == (0.0, 0.0) and only.carry[2] == pytest.approx(0.09, abs=0.04)
    blind = fit_dose_response(base, k, y, None, treatment="k", levels=LEVELS, anchor=3.0, zeros={2: (0.0,)},
                              ridge=1.0, smoothness=50.0)
    assert blind.carry == () and blind.carry_feature is None

    raw = spark.createDataFrame(pd.DataFrame({"r0": [0.0] * 2, "r1": [-2.0] * 2, "r2": [-5.0] * 2,
                                              "k": [6.0, 6.0], "sends_7d": [0.0, 6.0]}))
    cols = ["r0", "r1", "r2"]
    steady = compose(raw, cols, "k", head, ["p0", "p1", "p2"]).toPandas()
    after = compose(raw, cols, "k", head, ["p0", "p1", "p2"], prev=F.col("sends_7d")).toPandas()
    # kept every week = the week after 6 emails; the week after none has fewer unsubscribes
    np.testing.assert_allclose(steady.p2, after.p2[1], rtol=1e-12)
    g, d = head.carry[2], np.array(head.delta)[6, 2]
    zz = np.array([0.0, -2.0 + np.array(head.delta)[6, 1] - 3 * head.carry[1], -5.0 + d - 3 * g])
    np.testing.assert_allclose(after.p2[0], np.exp(zz[2]) / np.exp(zz).sum(), rtol=1e-9)
    assert after.p2[0] < after.p2[1]
