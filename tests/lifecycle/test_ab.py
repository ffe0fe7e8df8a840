"""A/B: stable hash arms without the exploration holdout, recorded assignments, tests, rollout rule, A/A FPR."""
from __future__ import annotations

import datetime as dt

import numpy as np
import pytest
from pyspark.sql import functions as F
from scipy import stats

from sendopt.channels.email.config import EmailConfig, ExplorationConfig
from sendopt.channels.email.experiments import (
    ab_arm_column,
    arm_frequency,
    describe_arms,
    in_exploration_holdout,
    record_assignments,
)
from sendopt.errors import SendoptError
from sendopt.lifecycle import ab_analysis as ab
from sendopt.lifecycle.experiment_config import ArmConfig, ExperimentsConfig
from sendopt.lifecycle.tables import AB_ASSIGNMENTS

EXPLORATION = ExplorationConfig(share=0.1, salt="explore-test")
ON = ExperimentsConfig(enabled=True, name="t1", salt="ab-test", treatment_share=0.3,
                       control=ArmConfig(policy="current"), treatment=ArmConfig(policy="fixed", emails_per_week=7))


# ------------------------------------------------------------------------------------------- statistics


def test_two_proportions_hand_computed():
    # 100/1000 vs 70/1000: pooled p = 0.085, se0 = sqrt(.085·.915·(2/1000)) = 0.012472, z = 2.40539
    c = ab.two_proportions("unsubscribe_rate", 100, 1000, 70, 1000, alpha=0.05)
    assert c.difference == pytest.approx(-0.03)
    assert c.p_value == pytest.approx(0.016155, abs=1e-6)
    # unpooled interval: −0.03 ± 1.959964·sqrt(.1·.9/1000 + .07·.93/1000)
    assert (c.ci_low, c.ci_high) == pytest.approx((-0.054409, -0.005591), abs=1e-6)
    assert c.significant and c.relative == pytest.approx(-0.3)


def test_two_means_hand_computed():
    # control [1, 2, 3]: mean 2, var 1; treatment [2, 4, 6]: mean 4, var 4; se = sqrt(1/3 + 4/3)
    c = ab.two_means("revenue_per_user", 6, 14, 3, 12, 56, 3, alpha=0.05)
    assert c.difference == pytest.approx(2.0)
    assert c.p_value == pytest.approx(0.121335, abs=1e-6)
    assert c.ci_high - c.ci_low == pytest.approx(2 * 1.959964 * np.sqrt(5 / 3), abs=1e-5)
    assert not c.significant


def test_sample_ratio_hand_computed():
    chi2, p = ab.sample_ratio(450, 550, 0.5)  # (50²/500)·2 = 10
    assert chi2 == pytest.approx(10.0)
    assert p == pytest.approx(0.0015654, abs=1e-6)


def _sums(n, unsub, revenue_mean, revenue_var=100.0):
    rev = revenue_mean * n
    return {"n": n, "unsubscribed": unsub, "purchased": 0.1 * n, "opened": 0.3 * n, "revenue": rev,
            "revenue_sq": revenue_var * (n - 1) + rev * rev / n, "clicks": 0.2 * n, "clicks_sq": 0.3 * n,
            "emails": 3.0 * n, "emails_sq": 10.0 * n}


def test_rollout_rule_paths():
    cfg = ExperimentsConfig(treatment_share=0.5)
    # fewer unsubscribes, same revenue → rollout
    _, _, decision, reasons = ab.analyze({"control": _sums(5000, 150, 10.0), "treatment": _sums(5000, 90, 10.0)},
                                         cfg)
    assert decision == "rollout", reasons
    # fewer unsubscribes but significantly less revenue → hold, with the revenue reason
    _, _, decision, reasons = ab.analyze({"control": _sums(5000, 150, 10.0), "treatment": _sums(5000, 90, 8.0)},
                                         cfg)
    assert decision == "hold" and any("significant revenue loss" in r for r in reasons)
    # no unsubscribe difference → hold
    _, _, decision, reasons = ab.analyze({"control": _sums(5000, 150, 10.0), "treatment": _sums(5000, 148, 10.0)},
                                         cfg)
    assert decision == "hold" and any("no significant unsubscribe reduction" in r for r in reasons)
    # more unsubscribes (send-daily against the model) → hold, saying so
    _, _, decision, reasons = ab.analyze({"control": _sums(5000, 150, 10.0), "treatment": _sums(5000, 250, 10.5)},
                                         cfg)
    assert decision == "hold" and "significantly UP" in reasons[0]
    # 5000 vs 4000 at a 50/50 split → sample ratio mismatch → invalid, whatever the metrics
    _, (chi2, p), decision, reasons = ab.analyze(
        {"control": _sums(5000, 150, 10.0), "treatment": _sums(4000, 20, 10.0)}, cfg)
    assert decision == "invalid" and p < 1e-10 and "sample ratio mismatch" in reasons[0]


# ------------------------------------------------------------------------------------------- assignment


def test_arms_are_stable_split_as_configured_and_skip_the_holdout(spark):
    users = spark.range(20_000).select(F.concat(F.lit("u"), F.col("id").cast("string")).alias("user_id"))
    arm = ab_arm_column(F.col("user_id"), ON, EXPLORATION)
    a = users.withColumn("arm", arm).withColumn("holdout", in_exploration_holdout(F.col("user_id"), EXPLORATION))
    counts = {(r.holdout, r.arm): r["count"] for r in a.groupBy("holdout", "arm").count().collect()}
    assert set(counts) == {(True, None), (False, "control"), (False, "treatment")}  # holdout never in an arm
    assigned = counts[(False, "control")] + counts[(False, "treatment")]
    share = counts[(False, "treatment")] / assigned
    assert abs(share - 0.3) < 3 * np.sqrt(0.3 * 0.7 / assigned)
    # stable: another partitioning gives the same arms
    again = users.repartition(7).withColumn("arm2", arm)
    assert a.join(again, "user_id").where(~F.col("arm").eqNullSafe(F.col("arm2"))).count() == 0
    # disabled → nobody has an arm
    off = users.select(ab_arm_column(F.col("user_id"), ExperimentsConfig(), EXPLORATION).alias("arm"))
    assert off.where(F.col("arm").isNotNull()).count() == 0


def test_arm_frequency_applies_each_arms_policy(spark):
    email = EmailConfig(policy="tiers")
    df = spark.createDataFrame([("control", 3, 5), ("treatment", 3, 5), (None, 3, 5)],
                               "arm string, tier_frequency int, optimal_frequency int")
    k = arm_frequency(F.col("arm"), ON, email, F.lit(-1))
    assert [r.k for r in df.select(k.alias("k")).collect()] == [3, 7, -1]
    assert describe_arms(ON, email) == {"control": "tiers policy of model champion (current system)",
                                        "treatment": "fixed 7 emails/week"}


def test_record_assignments_appends_new_users_only_and_refuses_a_changed_salt(spark, lake):
    first = spark.createDataFrame([(f"u{i}",) for i in range(200)], "user_id string")
    day = dt.date(2026, 3, 2)
    added = record_assignments(lake, first, ON, EXPLORATION, "north", "alpha", day, "run-1")
    holdout = first.where(in_exploration_holdout(F.col("user_id"), EXPLORATION)).count()
    assert added == 200 - holdout
    more = spark.createDataFrame([(f"u{i}",) for i in range(150, 260)], "user_id string")
    added2 = record_assignments(lake, more, ON, EXPLORATION, "north", "alpha", day + dt.timedelta(7), "run-2")
    new_holdout = more.where((F.col("user_id").isin([f"u{i}" for i in range(200, 260)]))
                             & in_exploration_holdout(F.col("user_id"), EXPLORATION)).count()
    assert added2 == 60 - new_holdout
    stored = lake.read(AB_ASSIGNMENTS)
    assert stored.count() == added + added2 == stored.select("user_id").distinct().count()
    assert stored.where(F.col("user_id") == "u160").first().first_assigned_date == day  # first date kept
    with pytest.raises(SendoptError, match="salt"):
        record_assignments(lake, more, ON.model_copy(update={"salt": "other"}), EXPLORATION, "north", "alpha", day,
                           "run-3")


# ------------------------------------------------------------------------------------------- outcomes


def test_user_outcomes_count_only_the_window(spark):
    assigned = spark.createDataFrame(
        [("a", "control", dt.date(2026, 3, 2)), ("b", "treatment", dt.date(2026, 3, 4)),
         ("c", "treatment", dt.date(2026, 3, 2))], "user_id string, arm string, first_assigned_date date")
    d = dt.date
    events = spark.createDataFrame(
        [("a", "open", d(2026, 3, 3)), ("a", "click", d(2026, 3, 3)), ("a", "click", d(2026, 3, 5)),
         ("b", "unsubscribe", d(2026, 3, 3)),  # before b's assignment: not counted
         ("b", "open", d(2026, 3, 6)), ("c", "unsubscribe", d(2026, 3, 9)),
         ("c", "open", d(2026, 3, 20))],  # after the run date: not counted
        "user_id string, event_type string, event_date date")
    orders = spark.createDataFrame([("a", 10.0, d(2026, 3, 3)), ("a", 5.0, d(2026, 3, 4)), ("b", 7.0, d(2026, 3, 1))],
                                   "user_id string, amount double, event_date date")
    sends = spark.createDataFrame([("a", d(2026, 3, 2)), ("a", d(2026, 3, 3)), ("c", d(2026, 3, 2))],
                                  "user_id string, event_date date")
    out = ab.user_outcomes(assigned, events, orders, sends, F.lit(None).cast("date"), d(2026, 3, 10))
    rows = {r.user_id: r for r in out.collect()}
    assert (rows["a"].opened, rows["a"].clicks, rows["a"].revenue, rows["a"].purchased, rows["a"].emails) == (
        1.0, 2.0, 15.0, 1.0, 2.0)
    assert (rows["b"].unsubscribed, rows["b"].opened, rows["b"].revenue, rows["b"].purchased) == (0.0, 1.0, 0.0, 0.0)
    assert (rows["c"].unsubscribed, rows["c"].opened, rows["c"].emails) == (1.0, 0.0, 1.0)
    sums = ab.collect_sums(ab.arm_sums(out))[()]
    assert sums["treatment"]["n"] == 2 and sums["control"]["revenue_sq"] == 225.0


# ------------------------------------------------------------------------------------------- A/A study


def test_aa_false_positive_rate_is_alpha(spark):
    """200 salts over the same 4,000 users: each metric's false-positive rate within the binomial 99.9 % band."""
    rng = np.random.default_rng(20261122)
    n = 4000
    purchased = rng.random(n) < 0.12
    revenue = np.where(purchased, rng.lognormal(3.7, 0.8, n), 0.0)  # heavy-tailed, like orders
    rows = [(f"user{i}", float(rng.random() < 0.02), float(purchased[i]), float(rng.random() < 0.35),
             float(revenue[i]), float(rng.poisson(0.4)), float(rng.integers(0, 8))) for i in range(n)]
    outcomes = spark.createDataFrame(
        rows, "user_id string, unsubscribed double, purchased double, opened double, revenue double, "
              "clicks double, emails double")
    salts = [f"aa-{i}" for i in range(200)]
    fpr = ab.aa_study(outcomes, salts, treatment_share=0.5, alpha=0.05)
    low, high = stats.binom.ppf(0.0005, 200, 0.05) / 200, stats.binom.isf(0.0005, 200, 0.05) / 200
    assert set(fpr) == {"unsubscribe_rate", "purchase_rate", "open_rate", "revenue_per_user", "clicks_per_user",
                        "emails_per_user", "sample_ratio"}
    for metric, rate in fpr.items():
        assert low <= rate <= high, (metric, rate, fpr)


def test_result_rows_fit_the_results_schema(spark):
    """The rows ab-analyze writes (plain floats: Spark's verifier refuses numpy scalars)."""
    cfg = ExperimentsConfig(treatment_share=0.5)
    comparisons, srm, decision, reasons = ab.analyze(
        {"control": _sums(5000, 150, 10.0), "treatment": _sums(5000, 90, 10.0)}, cfg)
    df = spark.createDataFrame(ab.result_rows(comparisons, srm, 5000, 5000, cfg, decision, reasons), ab.RESULT_SCHEMA)
    rows = {r.metric: r for r in df.collect()}
    assert len(rows) == 7 and rows["sample_ratio"].p_value == pytest.approx(1.0)
    assert rows["unsubscribe_rate"].decision == "rollout" and rows["unsubscribe_rate"].difference == pytest.approx(-0.012)
