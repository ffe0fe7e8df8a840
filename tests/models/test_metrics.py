"""Spark-side evaluation against hand-computed cases and scikit-learn; calibration."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from pyspark.sql import functions as F
from sklearn.metrics import brier_score_loss, log_loss, roc_auc_score

from sendopt.models import Calibrator, calibrate, evaluate, fit_calibrator


def frame(spark, **cols):
    return spark.createDataFrame(pd.DataFrame(cols))


def test_auc_of_perfect_inverse_and_uninformative_rankings(spark):
    y = [0, 0, 0, 1, 1, 1]
    p = [0.1, 0.2, 0.3, 0.7, 0.8, 0.9]
    assert evaluate(frame(spark, y=y, p=p), "y", ["p"]).auc[1] == 1.0
    assert evaluate(frame(spark, y=y, p=p[::-1]), "y", ["p"]).auc[1] == 0.0
    assert evaluate(frame(spark, y=y, p=[0.5] * 6), "y", ["p"]).auc[1] == 0.5
    # One tie between a positive and a negative counts one half: (8 + 0.5) / 9.
    assert evaluate(frame(spark, y=y, p=[0.1, 0.2, 0.7, 0.7, 0.8, 0.9]), "y", ["p"]).auc[1] == pytest.approx(8.5 / 9)


def test_binary_metrics_match_sklearn(spark):
    rng = np.random.default_rng(0)
    p = rng.uniform(0.01, 0.99, 5_000).round(3)  # rounding makes ties
    y = (rng.uniform(size=5_000) < p ** 1.3).astype(int)
    w = rng.uniform(0.5, 2.0, 5_000)
    ev = evaluate(frame(spark, y=y, p=p), "y", ["p"])
    assert ev.auc[1] == pytest.approx(roc_auc_score(y, p), abs=1e-12)
    assert ev.log_loss == pytest.approx(log_loss(y, p), rel=1e-9)
    assert ev.brier == pytest.approx(brier_score_loss(y, p), rel=1e-9)
    weighted = evaluate(frame(spark, y=y, p=p, w=w), "y", ["p"], weight="w")
    assert weighted.auc[1] == pytest.approx(roc_auc_score(y, p, sample_weight=w), abs=1e-12)
    assert weighted.log_loss == pytest.approx(log_loss(y, p, sample_weight=w), rel=1e-9)


def test_multiclass_metrics_match_sklearn(spark):
    rng = np.random.default_rng(1)
    probs = rng.dirichlet([1, 1, 1], 3_000)
    y = np.array([rng.choice(3, p=row) for row in probs])
    ev = evaluate(frame(spark, y=y, a=probs[:, 0], b=probs[:, 1], c=probs[:, 2]), "y", ["a", "b", "c"])
    for c in range(3):  # continuous scores: a few share a logit bucket and count as ties
        assert ev.auc[c] == pytest.approx(roc_auc_score(y == c, probs[:, c]), abs=1e-4)
    assert ev.log_loss == pytest.approx(log_loss(y, probs), rel=1e-9)
    assert ev.brier == pytest.approx(((probs - np.eye(3)[y]) ** 2).sum(axis=1).mean(), rel=1e-9)
    assert set(ev.as_metrics()) >= {"auc", "auc_c0", "auc_c2", "log_loss", "brier", "ece", "ece_c1"}


def test_ece_zero_when_perfectly_calibrated_and_hand_computed_otherwise(spark):
    # 20 rows predicted 0.25 with 5 positives, 10 rows predicted 0.7 with 7 positives.
    y = [1] * 5 + [0] * 15 + [1] * 7 + [0] * 3
    p = [0.25] * 20 + [0.7] * 10
    calibrated = evaluate(frame(spark, y=y, p=p), "y", ["p"])
    assert calibrated.ece[1] == pytest.approx(0.0, abs=1e-12)
    curve = calibrated.reliability.sort_values("bin")
    assert curve["weight"].tolist() == [20, 10] and curve["obs_rate"].tolist() == pytest.approx([0.25, 0.7])
    # Same rows predicted 0.45 and 0.9: gaps 0.2 (20 rows) and 0.2 (10 rows) → ECE 0.2.
    shifted = evaluate(frame(spark, y=y, p=[0.45] * 20 + [0.9] * 10), "y", ["p"])
    assert shifted.ece[1] == pytest.approx(0.2)


@pytest.fixture(scope="module")
def miscalibrated(spark):
    """True probability p, predicted p³ (badly under-confident in the middle)."""
    df = spark.range(20_000, numPartitions=2).select(F.rand(5).alias("p_true"), F.rand(6).alias("u"))
    return df.select((F.col("u") < F.col("p_true")).cast("int").alias("y"),
                     F.pow("p_true", 3).alias("p"), F.col("p_true")).cache()


def test_calibration_fixes_a_miscalibrated_model(miscalibrated):
    before = evaluate(miscalibrated, "y", ["p"])
    assert before.ece[1] > 0.1
    for method in ("isotonic", "platt"):
        calibrator = calibrate(miscalibrated, "y", ["p"], ece_threshold=0.02, method=method, evaluation=before)
        assert isinstance(calibrator, Calibrator)
        after = evaluate(calibrator.apply(miscalibrated), "y", ["p"])
        assert after.ece[1] < 0.03, method
        assert after.auc[1] == pytest.approx(before.auc[1], abs=0.01)  # monotone map keeps the ranking
        assert Calibrator.from_dict(calibrator.to_dict()) == calibrator


def test_no_calibrator_when_already_calibrated(miscalibrated):
    assert calibrate(miscalibrated, "y", ["p_true"], ece_threshold=0.02) is None


def test_multiclass_calibration_keeps_rows_summing_to_one(spark):
    rng = np.random.default_rng(2)
    probs = rng.dirichlet([2, 1, 1], 4_000)
    y = np.array([rng.choice(3, p=row) for row in probs])
    sharp = probs ** 2 / (probs ** 2).sum(axis=1, keepdims=True)  # over-confident
    df = frame(spark, y=y, a=sharp[:, 0], b=sharp[:, 1], c=sharp[:, 2])
    calibrator = fit_calibrator(df, "y", ["a", "b", "c"], method="isotonic", max_rows=3_000)
    out = calibrator.apply(df).toPandas()
    assert np.allclose(out[["a", "b", "c"]].sum(axis=1), 1.0)
    assert evaluate(calibrator.apply(df), "y", ["a", "b", "c"]).mean_ece < evaluate(df, "y", ["a", "b", "c"]).mean_ece
