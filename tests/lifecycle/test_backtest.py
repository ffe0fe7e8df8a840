"""Backtest estimates and threshold calibration on hand-computed replay rows."""
from __future__ import annotations

import datetime as dt

import numpy as np
import pytest
import yaml

from sendopt.channels.email.backtest import Replay, bin_calibration, policy_estimates
from sendopt.channels.email.calibrate import BinStats, CalibrationResult, bin_stats, proposal_document, search
from sendopt.channels.email.config import EmailConfig, Tier
from sendopt.lifecycle.experiment_config import CalibrationConfig

# Two bins, two candidate frequencies (0 and 7); the configured tiers send 7 to bin 1, 0 to bin 2.
EMAIL = EmailConfig(candidate_frequencies=(0, 7), reference_frequency=7, bins=2,
                    tiers=(Tier(max_bin=1, emails_per_week=7), Tier(max_bin=2, emails_per_week=0)))


def _by_k(nv0, pu0, nv7, pu7):
    return [(0.0, nv0, 0.1, pu0, 0.9 - pu0, nv0), (7.0, nv7, 0.2, pu7, 0.8 - pu7, nv7)]


# user, bin, logged k, logging prob, reward, unsubscribed, purchased, by_k, k under the tiers policy
ROWS = [
    ("u1", 1, 7, 0.5, 10.0, 0.0, 1.0, _by_k(2.0, 0.0, 6.0, 0.1), 7),
    ("u2", 1, 0, 0.5, 1.0, 0.0, 1.0, _by_k(1.0, 0.0, 5.0, 0.1), 7),
    ("u3", 2, 7, 0.5, -40.0, 1.0, 0.0, _by_k(0.0, 0.0, -2.0, 0.2), 0),
    ("u4", 2, 0, 0.5, 0.0, 0.0, 0.0, _by_k(0.5, 0.0, -1.0, 0.2), 0),
]
SCHEMA = ("user_id string, bin int, logged_k int, prob double, reward double, unsub double, purchased double, "
          "by_k array<struct<k:double,net_value:double,p_purchase:double,p_unsubscribe:double,"
          "p_no_action:double,choice_value:double>>, k_tiers int")


@pytest.fixture(scope="module")
def replay(spark):
    rows = spark.createDataFrame(ROWS, SCHEMA)
    rows = rows.selectExpr("*", "1.0 as email_consent", "logged_k as k_logged")
    return Replay(rows, [dt.date(2026, 2, 2)], {}, "m", "1")


def test_policy_estimates_hand_computed(replay):
    e = policy_estimates(replay, ["tiers", "logged"])
    tiers = e["tiers"]
    # DR rows: u1 6 + 2·(10 − 6) = 14 | u2 q(7) = 5 | u3 q(0) = 0 | u4 0.5 + 2·(0 − 0.5) = −0.5 → 18.5 / 4
    assert tiers["value"].dr.value == pytest.approx(4.625)
    assert tiers["value"].ips.value == pytest.approx(5.0)  # (2·10 + 2·0) / 4
    assert tiers["value"].snips.value == pytest.approx(5.0)  # 20 / (2 + 2)
    assert tiers["value"].dm == pytest.approx(2.875)  # (6 + 5 + 0 + 0.5) / 4
    # unsubscribe DR: u1 0.1 + 2·(0 − 0.1) | u2 0.1 | u3 0 | u4 0 → 0
    assert tiers["unsub"].dr.value == pytest.approx(0.0)
    assert (tiers["matched"], tiers["emails"]) == (2, 3.5)
    # the logged (uniform) policy: IPS with w = 1 is the mean reward
    assert e["logged"]["value"].ips.value == pytest.approx((10 + 1 - 40 + 0) / 4)
    # DR of the logged policy: mean over rows of mean_k q + (r − q(a)) = ((4+4) + (3+0) + (−1−38) + (−0.25−0.5)) / 4
    assert e["logged"]["value"].dr.value == pytest.approx((8 + 3 - 39 - 0.75) / 4)


def test_bin_calibration_predicted_vs_actual(replay):
    bins = {b.bin: b for b in bin_calibration(replay)}
    assert bins[1].predicted_net_value == pytest.approx((6.0 + 1.0) / 2)  # model at the logged k
    assert bins[1].actual_net_value == pytest.approx(5.5)
    assert bins[2].predicted_unsubscribe == pytest.approx(0.1)  # (0.2 + 0.0) / 2
    assert bins[2].actual_unsubscribe == pytest.approx(0.5)


def test_bin_stats_reproduce_the_backtest_estimate(replay):
    stats = bin_stats(replay.rows, EMAIL, "north")
    assert stats.n == 4
    current = stats.value({1: 7, 2: 0})
    assert current["dr_net_value"] == pytest.approx(4.625)  # the same number as the row-level DR above
    assert current["ips_net_value"] == pytest.approx(5.0)
    assert current["emails_per_user"] == pytest.approx(3.5)
    # everyone at 7: u3's unsubscribe is now matched: −2 + 2·(−40 + 2) = −78 → (14 + 5 − 78 − 1) / 4
    assert stats.value({1: 7, 2: 7})["dr_net_value"] == pytest.approx(-15.0)
    assert stats.value({1: 0, 2: 0})["dr_net_value"] == pytest.approx(0.625)


def _stats():
    """Four bins × frequencies (0, 3, 7), one user each, no residuals: the values are the per-bin sums."""
    q = np.array([[0, 5, 8], [0, 4, 5], [0, 1, 0], [0, -1, -3]], dtype=float)
    qu = np.array([[0, .01, .05], [0, .01, .05], [0, .02, .06], [0, .02, .08]])
    zero = np.zeros_like(q)
    k = np.tile([0.0, 3.0, 7.0], (4, 1))
    return BinStats(4, (0, 3, 7), {"q": q, "c": zero, "qu": qu, "cu": zero, "wr": zero, "wu": zero, "k": k})


EMAIL4 = EmailConfig(candidate_frequencies=(0, 3, 7), reference_frequency=3, bins=4,
                     tiers=(Tier(max_bin=1, emails_per_week=7), Tier(max_bin=3, emails_per_week=3),
                            Tier(max_bin=4, emails_per_week=0)))


def test_search_finds_the_constrained_optimum():
    # current: 8 + 4 + 1 + 0 = 13 → 3.25 per user, unsubscribe (.05 + .01 + .02) / 4 = .02
    loose = search(_stats(), EMAIL4, CalibrationConfig(trials=150, seed=3, max_unsubscribe_rate=0.03))
    assert loose.current["dr_net_value"] == pytest.approx(3.25)
    # best with unsubscribe ≤ .03: bins 1-2 at 7, bin 3 at 3, bin 4 at 0 → (8 + 5 + 1) / 4, unsub .12 / 4
    assert loose.proposal_tiers == (Tier(max_bin=2, emails_per_week=7), Tier(max_bin=3, emails_per_week=3),
                                    Tier(max_bin=4, emails_per_week=0))
    assert loose.proposal["dr_net_value"] == pytest.approx(3.5)
    assert loose.proposal["dr_unsubscribe_rate"] == pytest.approx(0.03)
    assert loose.trials == 81  # 3 boundary pairs × 3³ frequencies ≤ 150 trials: every combination tried
    # fewer trials than combinations: the seeded TPE search finds the same optimum
    tpe = search(_stats(), EMAIL4, CalibrationConfig(trials=60, seed=3, max_unsubscribe_rate=0.03))
    assert tpe.trials == 60 and tpe.proposal_tiers == loose.proposal_tiers
    # default constraint (no worse than the current unsubscribe rate): the current tiers are already optimal
    tight = search(_stats(), EMAIL4, CalibrationConfig(trials=150, seed=3))
    assert tight.proposal_tiers == EMAIL4.tiers and tight.max_unsubscribe_rate == pytest.approx(0.02)
    assert any("no change" in n for n in tight.notes)


def test_proposal_document_is_reviewable_yaml():
    result = CalibrationResult(EMAIL4.tiers, (Tier(max_bin=2, emails_per_week=7), Tier(max_bin=4, emails_per_week=0)),
                               {"dr_net_value": 1.0}, {"dr_net_value": 1.5}, 0.02, 10, 8, 400)
    assert result.proposal_map == {1: 7, 2: 7, 3: 0, 4: 0}
    doc = yaml.safe_load(yaml.safe_dump(proposal_document(result, {"region": "north"})))
    assert doc["email"]["tiers"] == [{"max_bin": 2, "emails_per_week": 7}, {"max_bin": 4, "emails_per_week": 0}]
    assert doc["estimate"]["current"]["dr_net_value"] == 1.0 and doc["proposal"]["rows"] == 400
    EmailConfig(bins=4, candidate_frequencies=(0, 3, 7), reference_frequency=3, **doc["email"])  # valid config
