"""Meta-learners recover planted effects on hand-built randomized data; overlap refusal; leakage rule."""
from __future__ import annotations

import numpy as np
import pytest
from pyspark.sql import functions as F

from sendopt.channels.coupons import learners as L
from sendopt.channels.coupons.config import LearnerConfig, ObservationalConfig
from sendopt.channels.coupons.features import LeakageError, check_pre_treatment

LEVELS = [0.0, 5.0, 10.0]
N = 6000
#: Recovery tolerance of the mean predicted conversion effect per x2 group (≈ 3 standard errors of
#: a difference of two proportions with ~1,000 customers each).
TOL = 0.07
#: The DR-learner regresses inverse-propensity pseudo-outcomes (variance ~1/e = 3× larger): wider.
TOL_DR = 0.1


def true_conv(x2: np.ndarray, arm: np.ndarray) -> np.ndarray:
    """p_0 = 0.2; arm 1 adds 0.3 only where x2 = 1; arm 2 adds 0.1 + 0.4·x2."""
    return 0.2 + np.where(arm == 1, 0.3 * x2, 0.0) + np.where(arm == 2, 0.1 + 0.4 * x2, 0.0)


def make(spark, n=N, seed=1, arm_rule=None):
    rng = np.random.default_rng(seed)
    x1 = rng.uniform(size=n)
    x2 = (rng.uniform(size=n) < 0.5).astype(float)
    arm = rng.integers(0, 3, n) if arm_rule is None else arm_rule(rng, x2)
    conv = (rng.uniform(size=n) < true_conv(x2, arm)).astype(int)
    value = conv * (80.0 + 40.0 * x1)
    cost = conv * np.asarray(LEVELS)[arm]
    rows = [(f"u{i}", int(a), 1 / 3, int(c), float(v), float(k), float(p), float(q))
            for i, (a, c, v, k, p, q) in enumerate(zip(arm, conv, value, cost, x1, x2, strict=True))]
    return spark.createDataFrame(rows, "user_id string, arm int, propensity double, converted int, value double, "
                                       "cost double, x1 double, x2 double")


CFG = LearnerConfig(backend="local", num_boost_round=60, early_stopping_rounds=10,
                    params={"learning_rate": 0.1, "num_leaves": 7, "min_data_in_leaf": 50})


@pytest.fixture(scope="module")
def fitted(spark):
    df = make(spark).cache()
    models, report = L.fit_learners(spark, df, ["x1", "x2"], LEVELS, LEVELS, CFG, ["t", "s", "x", "dr"])
    return df, models, report


@pytest.mark.parametrize("kind", ["t", "s", "x", "dr"])
def test_learner_recovers_the_planted_conversion_effects(fitted, kind):
    df, models, _ = fitted
    pred = L.predict(df, models[kind])
    got = {r["x2"]: r for r in pred.groupBy("x2").agg(
        *[F.avg(F.col(f"conv_{k}") - F.col("conv_0")).alias(f"e{k}") for k in (1, 2)],
        F.avg("tau_2").alias("tau2"), F.avg("cost_2").alias("cost2"), F.avg("conv_2").alias("p2")).collect()}
    tol = TOL_DR if kind == "dr" else TOL
    for x2 in (0.0, 1.0):
        assert got[x2]["e1"] == pytest.approx(0.3 * x2, abs=tol), (kind, x2)
        assert got[x2]["e2"] == pytest.approx(0.1 + 0.4 * x2, abs=tol), (kind, x2)
        # expected cost = P(convert) × face value; net effect = value effect − cost
        assert got[x2]["cost2"] == pytest.approx(10.0 * got[x2]["p2"], rel=1e-9)
    # net effect of arm 2 where x2 = 1: 0.5 · E[value | conv] (100) − 0.7 · 10 ≈ 43
    assert got[1.0]["tau2"] == pytest.approx(0.5 * 100 - 0.7 * 10, abs=10), kind


def test_converter_value_model_pools_value_over_arms(spark, fitted):
    """value = per_converter: value_k = conv_k × V(x, k) from one model of every arm's converters."""
    df, _, _ = fitted
    cfg = CFG.model_copy(update={"value": "per_converter"})
    models, report = L.fit_learners(spark, df, ["x1", "x2"], LEVELS, LEVELS, cfg, ["t"])
    m = models["t"]
    assert L.CONVERTER_VALUE in m.boosters and not any(k.startswith("t_value") for k in m.boosters)
    assert not any(k.startswith("t_value") for k in report["seconds_per_booster"])
    pred = L.predict(df, m)
    # a converter's value is 80 + 40·x1 in every arm: V recovers it within a few currency units
    got = pred.where("x1 > 0.8").agg(F.avg(F.col("value_1") / F.col("conv_1")).alias("v")).first()["v"]
    assert got == pytest.approx(80 + 40 * 0.9, abs=4)
    tau = {r["x2"]: r["t"] for r in pred.groupBy("x2").agg(F.avg("tau_2").alias("t")).collect()}
    assert tau[1.0] == pytest.approx(0.5 * 100 - 0.7 * 10, abs=10)
    again = L.UpliftModel.from_json(m.to_json())
    assert L.predict(df, again).agg(F.sum("tau_1")).first()[0] == pytest.approx(pred.agg(F.sum("tau_1")).first()[0])


def test_model_round_trips_through_json(fitted):
    _, models, _ = fitted
    m = models["x"]
    again = L.UpliftModel.from_json(m.to_json())
    assert again.outputs == m.outputs and again.boosters == m.boosters


def test_monotone_option_makes_conversion_non_decreasing(spark, fitted):
    df, models, _ = fitted
    m = L.UpliftModel.from_json(models["t"].to_json())
    m.monotone = True
    pred = L.predict(df, m)
    assert pred.where((F.col("conv_1") < F.col("conv_0") - 1e-12) | (F.col("conv_2") < F.col("conv_1") - 1e-12)
                      ).count() == 0


def test_isotonic_by_hand(spark):
    df = spark.createDataFrame([(0.3, 0.1, 0.5), (0.1, 0.2, 0.3), (0.4, 0.2, 0.1)], "a double, b double, c double")
    fit = df.select(*[c.alias(f"f{i}") for i, c in enumerate(L.isotonic([F.col("a"), F.col("b"), F.col("c")]))])
    rows = [tuple(round(v, 6) for v in r) for r in fit.collect()]
    assert rows == [(0.2, 0.2, 0.5), (0.1, 0.2, 0.3), (0.233333, 0.233333, 0.233333)]


def test_observational_data_without_overlap_is_refused(spark):
    # the business rule gives arm 2 to x2 = 1 and arm 0 to x2 = 0, with 1% exceptions
    def rule(rng, x2):
        arm = np.where(x2 == 1, 2, 0)
        flip = rng.uniform(size=len(x2)) < 0.01
        return np.where(flip, rng.integers(0, 3, len(x2)), arm)

    df = make(spark, n=3000, seed=5, arm_rule=rule)
    with pytest.raises(L.OverlapError, match="overlap check failed"):
        L.fit_learners(spark, df, ["x1", "x2"], LEVELS, LEVELS, CFG, ["t"], randomized=False,
                       obs=ObservationalConfig(overlap_min=0.05))


def test_observational_data_with_overlap_gets_ipw(spark):
    def rule(rng, x2):  # confounded but every arm possible: P(arm 2) = 0.6 where x2 = 1, else 0.2
        u = rng.uniform(size=len(x2))
        p2 = np.where(x2 == 1, 0.6, 0.2)
        return np.where(u < p2, 2, np.where(u < p2 + (1 - p2) / 2, 1, 0))

    df = make(spark, n=4000, seed=6, arm_rule=rule)
    models, report = L.fit_learners(spark, df, ["x1", "x2"], LEVELS, LEVELS, CFG, ["t"], randomized=False)
    assert report["overlap"]["violation_share"] <= 0.01
    assert report["overlap"]["max_e_2"] == pytest.approx(0.6, abs=0.1)
    pred = L.predict(df, models["t"]).where("x2 = 1").agg(F.avg(F.col("conv_2") - F.col("conv_0"))).first()[0]
    assert pred == pytest.approx(0.5, abs=0.1)


def test_leakage_rule_refuses_outcomes_as_features():
    check_pre_treatment(["age", "first_pages"])
    for bad in (["age", "converted"], ["value_90d"], ["coupon_level"], ["propensity"]):
        with pytest.raises(LeakageError, match="post-treatment"):
            check_pre_treatment(bad)


def test_trainer_regression_task_on_barrier_backend(spark):
    from sendopt.models.spec import ModelError, TrainSpec
    from sendopt.models.trainer import train

    df = make(spark, n=1500, seed=9)
    spec = TrainSpec(features=["x1", "x2"], label="value", task="regression", num_boost_round=30,
                     params={"num_leaves": 7, "min_data_in_leaf": 30})
    result = train(spark, df, df, spec, backend="barrier")
    pred = result.booster.predict(np.array([[0.5, 1.0], [0.5, 0.0]]))
    assert pred[0] > pred[1]  # x2 = 1 converts more, so more value
    with pytest.raises(ModelError, match="non-finite"):
        train(spark, df.withColumn("value", F.lit(None).cast("double")), df, spec, backend="local")
