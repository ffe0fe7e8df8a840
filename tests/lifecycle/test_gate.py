"""Gate rules on hand-written metric dicts: the promote path and each keep path with its reason."""
from __future__ import annotations

import pytest

from sendopt.lifecycle.config import GateConfig
from sendopt.lifecycle.gate import gate, group_rates, value_bins

CHAMPION = {"auc": 0.70, "log_loss": 0.50, "ece": 0.02, "rows": 1000,
            "top_conversion": 0.20, "bottom_conversion": 0.05, "top_unsubscribe": 0.001, "bottom_unsubscribe": 0.004}
CFG = GateConfig(auc_tolerance=0.01, max_ece=0.03, value_bins=3, bin_order="both", min_holdout_rows=500)


def challenger(**changes):
    return {**CHAMPION, **changes}


def test_promote_when_every_rule_passes():
    # AUC 0.695 ≥ 0.70 − 0.01 = 0.69: a slightly worse AUC within tolerance still promotes
    result = gate(challenger(auc=0.695), CHAMPION, CFG)
    assert result.passed and set(result.checks) == {"holdout_rows", "auc", "ece", "bin_conversion",
                                                    "bin_unsubscribe"}
    assert all(line.startswith("pass") for line in result.reasons)


@pytest.mark.parametrize("changes, failing", [
    ({"auc": 0.689}, "auc"),                                   # below 0.69
    ({"ece": 0.031}, "ece"),                                   # above 0.03
    ({"top_conversion": 0.05}, "bin_conversion"),              # top bin no better than bottom
    ({"top_unsubscribe": 0.004}, "bin_unsubscribe"),           # top bin unsubscribes as much
    ({"rows": 499}, "holdout_rows"),
])
def test_keep_with_the_failing_rule_as_reason(changes, failing):
    result = gate(challenger(**changes), CHAMPION, CFG)
    assert not result.passed
    assert [n for n, ok in result.checks.items() if not ok] == [failing]
    assert result.reasons[0].startswith(f"FAIL {failing}:")


def test_nan_auc_never_promotes_and_optional_rules():
    assert not gate(challenger(auc=float("nan")), CHAMPION, CFG).checks["auc"]
    loose = GateConfig(auc_tolerance=0.01, max_ece=0.03, bin_order="off", max_log_loss_increase=0.01,
                       min_holdout_rows=1)
    result = gate(challenger(log_loss=0.52, top_conversion=0.0), CHAMPION, loose)
    assert result.checks == {"holdout_rows": True, "auc": True, "log_loss": False, "ece": True}


def test_first_model_has_no_auc_comparison():
    result = gate(challenger(auc=0.51), None, CFG)
    assert result.passed and "auc" not in result.checks


def test_value_bins_and_group_rates(spark):
    rows = [(float(v), int(v >= 7), int(v <= 1)) for v in range(9)]  # values 0..8
    df = spark.createDataFrame(rows, "net_value double, converted int, unsubscribed int")
    rates = group_rates(value_bins(df, "net_value", 3), "value_bin")
    assert rates["group"].tolist() == [1, 2, 3] and rates["rows"].tolist() == [3, 3, 3]
    # top bin {6,7,8}: 2 of 3 convert; bottom bin {0,1,2}: 2 of 3 unsubscribe
    assert rates["conversion_rate"].tolist() == pytest.approx([2 / 3, 0, 0])
    assert rates["unsubscribe_rate"].tolist() == pytest.approx([0, 0, 2 / 3])
