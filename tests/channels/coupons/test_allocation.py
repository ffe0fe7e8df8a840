"""Allocation: argmax without a budget, the budget respected exactly, greedy baseline, opt-outs, min share."""
from __future__ import annotations

import itertools

import numpy as np
import pytest

from sendopt.channels.coupons.allocation import AllocationError, allocate

GAINS = ["g0", "g1", "g2"]
COSTS = ["c0", "c1", "c2"]


def frame(spark, rows):
    return spark.createDataFrame(rows, "user_id string, g0 double, g1 double, g2 double, c0 double, c1 double, "
                                       "c2 double, ok boolean, region string")


def random_rows(n, seed=0):
    rng = np.random.default_rng(seed)
    g1 = rng.normal(1.0, 2.0, n)
    g2 = g1 + rng.normal(0.5, 1.5, n)
    c1 = rng.uniform(0.5, 2, n)
    c2 = c1 + rng.uniform(0.5, 3, n)
    return [(f"u{i}", 0.0, float(a), float(b), 0.0, float(c), float(d), True, "north" if i % 3 else "south")
            for i, (a, b, c, d) in enumerate(zip(g1, g2, c1, c2, strict=True))]


def test_without_budget_each_customer_gets_the_best_level_or_none(spark):
    rows = [("a", 0.0, 3.0, 5.0, 0.0, 1.0, 4.0, True, "n"), ("b", 0.0, -1.0, -0.5, 0.0, 1.0, 2.0, True, "n"),
            ("c", 0.0, 2.0, 1.0, 0.0, 1.0, 2.0, True, "n"), ("d", 0.0, 9.0, 9.5, 0.0, 1.0, 2.0, False, "n")]
    a = allocate(frame(spark, rows), GAINS, COSTS, eligible="ok")
    got = {r["user_id"]: r["choice"] for r in a.frame.collect()}
    assert got == {"a": 2, "b": 0, "c": 1, "d": 0}  # d opted out
    assert a.spend == pytest.approx(5.0) and a.gain == pytest.approx(7.0)


@pytest.mark.parametrize("method", ["lagrangian", "greedy"])
def test_budget_is_never_exceeded_and_nearly_used(spark, method):
    df = frame(spark, random_rows(2000)).cache()
    free = allocate(df, GAINS, COSTS)
    budget = 0.3 * free.spend
    a = allocate(df, GAINS, COSTS, budget=budget, method=method)
    assert a.spend <= budget + 1e-6
    assert a.spend >= budget - 5.0  # within one customer's largest cost of the budget
    assert a.frame.where("spend > 0 and choice = 0").count() == 0


def test_lagrangian_beats_greedy_and_is_close_to_the_exact_optimum(spark):
    df = frame(spark, random_rows(2000, seed=3)).cache()
    budget = 0.25 * allocate(df, GAINS, COSTS).spend
    lag = allocate(df, GAINS, COSTS, budget=budget)
    greedy = allocate(df, GAINS, COSTS, budget=budget, method="greedy")
    assert lag.gain >= greedy.gain - 1e-9
    # tiny instance: brute force over all 3^7 assignments
    rows = random_rows(7, seed=11)
    small = frame(spark, rows)
    b = 4.0
    best = 0.0
    for combo in itertools.product(range(3), repeat=7):
        cost = sum(r[4 + k] for r, k in zip(rows, combo, strict=True))
        if cost <= b:
            best = max(best, sum(r[1 + k] for r, k in zip(rows, combo, strict=True)))
    got = allocate(small, GAINS, COSTS, budget=b)
    assert got.spend <= b + 1e-9
    assert got.gain >= 0.85 * best


def test_min_share_per_group_is_met_within_the_budget(spark):
    rows = random_rows(1500, seed=5)
    rows = [(u, g0, g1 - (4.0 if r == "south" else 0.0), g2 - (4.0 if r == "south" else 0.0), c0, c1, c2, ok, r)
            for u, g0, g1, g2, c0, c1, c2, ok, r in rows]  # south gains little: few coupons unless forced
    df = frame(spark, rows).cache()
    budget = 0.5 * allocate(df, GAINS, COSTS).spend
    plain = allocate(df, GAINS, COSTS, budget=budget, min_share={"region=south": 0.0})
    forced = allocate(df, GAINS, COSTS, budget=budget, min_share={"region=south": 0.3})
    assert plain.shares["region=south"] < 0.3
    assert forced.shares["region=south"] >= 0.3 - 0.01
    assert forced.spend <= budget + 1e-6


def test_bad_settings_are_refused(spark):
    df = frame(spark, random_rows(10))
    with pytest.raises(AllocationError, match="column=value"):
        allocate(df, GAINS, COSTS, budget=1.0, min_share={"south": 0.2})
    with pytest.raises(AllocationError, match="method"):
        allocate(df, GAINS, COSTS, method="simplex")
