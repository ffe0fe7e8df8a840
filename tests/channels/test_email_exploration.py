"""The exploration holdout's allocation: Thompson probabilities, the hashed draw and its logged propensity."""
from __future__ import annotations

import datetime as dt

import numpy as np
import pytest
from pyspark.sql import functions as F

from sendopt.channels.email.backtest import Replay, policy_estimates
from sendopt.channels.email.config import ExplorationConfig
from sendopt.channels.email.exploration import holdout_columns, thompson_allocation
from sendopt.channels.email.model import design_weights

KS = (0, 1, 2, 3)
EXPLORE = ExplorationConfig(share=0.5, frequencies=KS, allocation="thompson", floor=0.4, draws=4000)


def test_thompson_puts_the_mass_on_the_clear_best_and_keeps_the_floor_everywhere():
    values = {1: {0: (1.0, 0.01), 1: (2.0, 0.01), 2: (5.0, 0.01), 3: (3.0, 0.01)},  # 2/week is clearly best
              2: dict.fromkeys(KS, (4.0, 1.0)),  # no evidence either way: close to uniform
              3: {0: (9.0, 0.01)}}  # only 0 valued: it is the best of what is known
    alloc = thompson_allocation(values, EXPLORE)
    for share in alloc.values():
        assert sum(share.values()) == pytest.approx(1.0)
        assert min(share.values()) >= EXPLORE.floor / len(KS) - 1e-12
    assert alloc[1][2] == pytest.approx(0.1 + 0.6) and alloc[1][0] == pytest.approx(0.1)
    assert all(abs(p - 0.25) < 0.03 for p in alloc[2].values())
    assert alloc[3] == pytest.approx({0: 0.7, 1: 0.1, 2: 0.1, 3: 0.1})
    assert thompson_allocation(values, EXPLORE) == alloc  # deterministic


def test_the_hashed_draw_follows_each_bins_allocation_and_logs_its_probability(spark):
    alloc = {1: {0: 0.1, 1: 0.1, 2: 0.7, 3: 0.1}}  # bin 2 is not listed: uniform there
    users = spark.range(40_000).select(F.concat(F.lit("u"), F.col("id").cast("string")).alias("user_id"),
                                       (1 + F.col("id") % 2).cast("int").alias("bin"))
    in_holdout, k, prob = holdout_columns(EXPLORE, F.col("bin"), alloc)
    rows = users.select("bin", in_holdout.alias("h"), k.alias("k"), prob.alias("p")).where("h")
    got = {(r.bin, r.k): (r["n"], r.p) for r in rows.groupBy("bin", "k", "p").agg(F.count("*").alias("n")).collect()}
    assert len(got) == 8  # one probability per (bin, k)
    for b in (1, 2):
        n = sum(v[0] for (bb, _), v in got.items() if bb == b)
        assert n == pytest.approx(10_000, rel=0.05)  # share 0.5 of each bin's 20,000
        for kk in KS:
            expected = alloc[1][kk] if b == 1 else 0.25
            assert got[(b, kk)][1] == pytest.approx(expected)
            assert got[(b, kk)][0] / n == pytest.approx(expected, abs=0.015)
    _, k0, p0 = holdout_columns(EXPLORE, F.col("bin"))  # no allocation: uniform
    assert {r.p for r in users.select(p0.alias("p")).distinct().collect()} == {0.25}
    assert users.select(k0.alias("k")).where(F.col("k").isin(*KS)).count() == users.count()


def test_the_logged_policy_of_a_non_uniform_holdout_is_valued_on_policy(spark):
    # rows logged with probability 0.7 / 0.1 (a Thompson holdout): the logged policy's DR is the mean reward,
    # whatever the model believes
    by_k = [(float(k), 100.0 * k, 0.1, 0.01, 0.89, 0.0) for k in KS]
    rows = [(f"u{i}", 1, i % 2 * 2, 0.7 if i % 2 else 0.1, float(i % 5), 0.0, 1.0, by_k, 0, 1.0, 2)
            for i in range(40)]
    schema = ("user_id string, bin int, logged_k int, prob double, reward double, unsub double, purchased double, "
              "by_k array<struct<k:double,net_value:double,p_purchase:double,p_unsubscribe:double,"
              "p_no_action:double,choice_value:double>>, optimal_frequency int, email_consent double, k_tiers int")
    df = spark.createDataFrame(rows, schema).withColumn("k_logged", F.col("logged_k"))
    e = policy_estimates(Replay(df, [dt.date(2026, 2, 2)], {}, "m", "1"), ["logged", "tiers"])
    assert e["logged"]["value"].dr.value == pytest.approx(np.mean([i % 5 for i in range(40)]))
    # the tiers policy (everyone 2/week) still reweights by the logged propensity: w = 1 / 0.7 on matching rows
    assert e["tiers"]["value"].ips.value == pytest.approx(sum(i % 5 / 0.7 for i in range(40) if i % 2) / 40)


def test_design_weights_reweight_a_non_uniform_holdout_to_the_uniform_design():
    w = np.array([1.0, 1.0, 2.0])
    assert np.array_equal(design_weights(w, None), w)
    assert np.allclose(design_weights(w, np.full(3, 0.125)), w)  # uniform: unchanged
    got = design_weights(np.ones(4), np.array([0.5, 0.5, 0.125, 0.125]))
    assert np.allclose(got, np.array([2, 2, 8, 8]) / 5.0) and got.mean() == pytest.approx(1.0)
