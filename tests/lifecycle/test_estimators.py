"""IPS, SNIPS and doubly robust estimates on hand-computed cases, in numpy and in Spark (same numbers)."""
from __future__ import annotations

import math

import numpy as np
import pytest
from pyspark.sql import functions as F

from sendopt.lifecycle import estimators as est

# Four logged rows. Logged action probabilities p, rewards r, the target's probability
# of the logged action π; weights w = π/p = [2, 4, 0, 0].
R = [1.0, 0.0, 2.0, 1.0]
P = [0.5, 0.25, 0.5, 0.25]
PI = [1.0, 1.0, 0.0, 0.0]
Q_LOGGED = [0.5, 0.5, 1.0, 1.0]  # model prediction at the logged action
Q_TARGET = [0.5, 0.5, 1.5, 0.5]  # model prediction under the target policy


def test_ips_snips_dr_hand_computed():
    # IPS = mean(w·r) = (2·1 + 4·0 + 0 + 0) / 4 = 0.5
    assert est.ips(R, P, PI) == pytest.approx(0.5)
    # SNIPS = Σw·r / Σw = 2 / 6
    assert est.snips(R, P, PI) == pytest.approx(1 / 3)
    # DR rows: q_π + w·(r − q_a) = 0.5 + 2·0.5 = 1.5 | 0.5 + 4·(−0.5) = −1.5 | 1.5 | 0.5 → mean 0.5
    assert est.doubly_robust(R, P, PI, Q_LOGGED, Q_TARGET) == pytest.approx(0.5)
    e = est.estimates(est.array_sums(R, P, PI, Q_LOGGED, Q_TARGET))
    assert e.n == 4
    assert e.dm == pytest.approx(0.75)  # mean(q_π) = 3 / 4
    assert e.effective_n == pytest.approx(36 / 20)  # (Σw)² / Σw² = 6² / (4 + 16)
    # IPS standard error: terms w·r = [2, 0, 0, 0], sample variance 1.0 → se = sqrt(1/4) = 0.5
    assert e.ips.se == pytest.approx(0.5)
    # DR terms [1.5, −1.5, 1.5, 0.5]: sample variance (1 + 4 + 1 + 0)/3 = 2 → se = sqrt(2/4)
    assert e.dr.se == pytest.approx(math.sqrt(0.5))
    # SNIPS delta-method se: sqrt(Σ w²(r − 1/3)²) / Σw = sqrt(4·(2/3)² + 16·(1/3)²) / 6
    assert e.snips.se == pytest.approx(math.sqrt(4 * 4 / 9 + 16 / 9) / 6)


def test_from_matrices_matches_direct_inputs():
    # Two actions; target is deterministic. Row i logged action a_i.
    actions = [0, 1, 1, 0]
    target = np.array([[1, 0], [0, 1], [1, 0], [0, 1]], dtype=float)
    q_hat = np.array([[0.5, 0.0], [0.0, 0.5], [1.5, 1.0], [1.0, 0.5]])
    e = est.from_matrices(actions, P, R, target, q_hat)
    assert e.ips.value == pytest.approx(0.5)
    assert e.dr.value == pytest.approx(0.5)  # same q_logged / q_target as the hand case above


def test_dr_equals_model_when_model_is_exact_and_ips_when_model_is_zero():
    r, p, pi = [3.0, 1.0], [0.5, 0.5], [1.0, 0.0]
    # model predicts 0 everywhere: DR reduces to IPS
    assert est.doubly_robust(r, p, pi, [0, 0], [0, 0]) == pytest.approx(est.ips(r, p, pi)) == pytest.approx(3.0)
    # residuals zero at the logged action: DR is the direct method
    assert est.doubly_robust(r, p, pi, r, [7.0, 5.0]) == pytest.approx(6.0)


def test_zero_logged_probability_is_refused():
    with pytest.raises(ValueError, match="logged_prob"):
        est.ips([1.0], [0.0], [1.0])


def test_spark_sums_give_the_same_numbers(spark):
    df = spark.createDataFrame(list(zip(R, P, PI, Q_LOGGED, Q_TARGET, strict=True)), "r double, p double, "
                               "pi double, ql double, qt double")
    row = df.agg(*est.sum_columns(F.col("r"), F.col("p"), F.col("pi"), F.col("ql"), F.col("qt"),
                                  prefix="x_")).first().asDict()
    e = est.estimates(row, prefix="x_")
    assert (e.n, e.ips.value, e.snips.value, e.dr.value, e.dm) == pytest.approx((4, 0.5, 1 / 3, 0.5, 0.75))
    assert e.dr.se == pytest.approx(math.sqrt(0.5))


def _per_action(actions, residuals):
    out = {}
    for a, e in zip(actions, residuals, strict=True):
        n, s1, s2 = out.get(a, (0.0, 0.0, 0.0))
        out[a] = (n + 1, s1 + e, s2 + e * e)
    return out


def test_residual_curve_is_the_row_level_least_squares_with_its_robust_covariance():
    rng = np.random.default_rng(3)
    actions = rng.integers(0, 8, 400).astype(float)
    residuals = 0.5 - 0.3 * actions + 0.02 * actions ** 2 + rng.normal(0, 1 + 0.2 * actions)
    curve = est.residual_curve(_per_action(actions, residuals), degree=2)
    x = np.column_stack([np.ones_like(actions), actions, actions ** 2])
    beta, *_ = np.linalg.lstsq(x, residuals, rcond=None)
    bread = np.linalg.inv(x.T @ x)
    hc0 = bread @ (x.T * (residuals - x @ beta) ** 2) @ x @ bread
    np.testing.assert_allclose(curve.beta, beta, rtol=1e-9)
    np.testing.assert_allclose(curve.cov, hc0, rtol=1e-7)
    assert curve.at(2.0) == pytest.approx(beta @ [1, 2, 4])


def test_residual_curve_needs_more_actions_than_its_degree():
    with pytest.raises(ValueError, match="degree-2 residual curve needs more than 2 logged actions"):
        est.residual_curve(_per_action([1.0, 1.0, 3.0], [0.1, 0.2, 0.3]), degree=2)
