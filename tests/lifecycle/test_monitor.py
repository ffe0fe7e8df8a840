"""Monitor trigger logic on hand-written signals, and score drift on a hand-built published frame."""
from __future__ import annotations

import datetime as dt
import math

import pandas as pd
import pytest

from sendopt.lifecycle.config import MonitorConfig
from sendopt.lifecycle.monitor import latest_judged_week, score_drift, trigger_causes

CFG = MonitorConfig(psi_alert=0.25, max_alert_features=2, score_psi_alert=0.2, auc_drop=0.05, max_ece=0.03,
                    calibration_ratio=1.5, min_outcome_rows=100)
QUIET = {"week_start": dt.date(2026, 2, 5), "rows": 500, "auc": 0.70, "ece": 0.01,
         "predicted_purchase": 0.10, "observed_purchase": 0.11, "predicted_unsubscribe": 0.004,
         "observed_unsubscribe": 0.005}


def test_quiet_signals_do_not_trigger():
    assert trigger_causes({"a": 0.3, "b": 0.1}, {"net_value_ref": 0.19}, QUIET, 0.72, CFG) == []
    assert trigger_causes({}, {}, None, None, CFG) == []


def test_each_threshold_is_a_cause():
    causes = trigger_causes({"a": 0.3, "b": 0.26, "c": 0.01}, {}, QUIET, 0.72, CFG)
    assert len(causes) == 1 and causes[0].startswith("feature_psi: 2 features") and "a=0.300, b=0.260" in causes[0]
    excluding = CFG.model_copy(update={"trigger_exclude": ("b",)})  # b reported elsewhere, not counted
    assert trigger_causes({"a": 0.3, "b": 0.26, "c": 0.01}, {}, QUIET, 0.72, excluding) == []
    assert trigger_causes({}, {"p_unsubscribe": 0.2}, None, None, CFG)[0].startswith("score_psi: p_unsubscribe")
    # AUC 0.70 < 0.76 − 0.05 = 0.71 → drop; at champion 0.75 the floor is 0.70 → no drop
    assert trigger_causes({}, {}, QUIET, 0.76, CFG)[0].startswith("auc_drop:")
    assert trigger_causes({}, {}, QUIET, 0.75, CFG) == []
    assert trigger_causes({}, {}, {**QUIET, "ece": 0.031}, 0.7, CFG)[0].startswith("calibration: ")
    # unsubscribe observed 0.0061 / predicted 0.004 = 1.525 > 1.5; 0.0026 / 0.004 = 0.65 < 1/1.5
    for observed in (0.0061, 0.0026):
        causes = trigger_causes({}, {}, {**QUIET, "observed_unsubscribe": observed}, 0.7, CFG)
        assert len(causes) == 1 and causes[0].startswith("calibration_unsubscribe:")
    assert trigger_causes({}, {}, {**QUIET, "observed_unsubscribe": 0.0059}, 0.7, CFG) == []


def test_latest_judged_week_skips_thin_weeks():
    perf = pd.DataFrame([{**QUIET, "week_start": dt.date(2026, 2, 5)},
                         {**QUIET, "week_start": dt.date(2026, 2, 12), "rows": 99, "auc": 0.5}])
    assert latest_judged_week(perf, 100)["week_start"] == dt.date(2026, 2, 5)
    assert latest_judged_week(perf, 1000) is None


def test_score_drift_against_the_champions_first_day(spark):
    d1, d2 = dt.date(2026, 2, 1), dt.date(2026, 2, 8)
    rows = [(d1, "1", float(v)) for v in range(100)] + [(d2, "1", 1000.0 + v) for v in range(100)]
    published = spark.createDataFrame(rows, "decision_date date, model_version string, net_value_ref double")
    out = score_drift(published, ("net_value_ref",), "1", MonitorConfig()).iloc[0]
    eps = MonitorConfig().psi_epsilon
    # reference deciles hold 0.1 each; every current score lands in the top bucket
    expected = 9 * (eps - 0.1) * math.log(eps / 0.1) + (1 - 0.1) * math.log(1 / 0.1)
    assert out["reference_date"] == d1 and out["psi"] == pytest.approx(expected, rel=1e-9)
    assert out["status"] == "alert" and out["current_mean"] == pytest.approx(1049.5)
    same = score_drift(published.where(published.decision_date == d1), ("net_value_ref",), "1", MonitorConfig())
    assert same.iloc[0]["psi"] == 0.0


def test_monitor_market_writes_tables_trigger_and_report(make_ctx):
    from pyspark.sql import functions as F

    from sendopt.lifecycle.monitor import monitor_market, write_market
    from sendopt.lifecycle.retrain import retrain_market
    from sendopt.lifecycle.tables import FEATURE_PSI, PERFORMANCE, RETRAIN_TRIGGERS
    from tests.lifecycle.conftest import TinyChannel

    retrain_market(make_ctx(), TinyChannel())  # the first model becomes champion
    ctx = make_ctx("monitor")
    channel = TinyChannel(drift=2.0)  # x0 moves by two standard deviations: PSI alert on x0 only
    result = monitor_market(ctx, channel)
    assert result.feature_psi.iloc[0]["feature"] == "x0" and result.feature_psi.iloc[0]["status"] == "alert"
    assert set(result.feature_psi[result.feature_psi["feature"] != "x0"]["status"]) == {"ok"}
    assert [c.split(":")[0] for c in result.causes] == ["feature_psi"]
    assert len(result.performance) == 2 and result.performance["auc"].min() > 0.6  # the champion on its own world
    write_market(ctx, channel, result)

    assert ctx.lake.read(FEATURE_PSI).count() == 4 and ctx.lake.read(PERFORMANCE).count() == 2
    trigger = ctx.lake.read(RETRAIN_TRIGGERS).where(F.col("run_date") == F.lit(ctx.run_date)).first()
    assert trigger.triggered and trigger.causes == result.causes and trigger.metrics["features_alert"] == 1.0
    with open(trigger.report_path, encoding="utf-8") as fh:
        page = fh.read()
    assert "Retrain triggered" in page and page.count("data:image/png;base64") == 4
