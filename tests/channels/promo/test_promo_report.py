"""promo-report on hand-made logs: actual vs predicted per segment × design, control-group increments,
the drift bound, and the retrain trigger."""
from __future__ import annotations

import datetime as dt

import pytest

from sendopt.channels.promo.report import (
    PROMO_REPORTS,
    PROMO_RETRAIN_TRIGGERS,
    ReportConfig,
    customer_outcomes,
    ended_assignments,
    report_cells,
    retrain_triggers,
)

START, END = dt.date(2026, 4, 1), dt.date(2026, 4, 7)
ASSIGN = ("request_id string, user_id string, merchant_id long, segment string, design_id string, start_date date, "
          "end_date date, p_redeem double, predicted_incremental_orders double, predicted_cost double, "
          "holdout boolean, model_version string")


def _logs(spark, offered_orders: int):
    """Two cells of request r1: 'new' (200 offered, 100 control) whose offered customers order
    ``offered_orders`` times each in the window (control: 0), and 'active' (40 offered, no control)."""
    assign, red, pay = [], [], []
    for i in range(300):
        holdout = i >= 200
        assign.append(("r1", f"n{i}", 5, "new", "d20", START, END, 0.5, 1.0, 2.0, holdout, "v3"))
        if not holdout:
            for k in range(offered_orders):
                pay.append((f"n{i}", 5, START + dt.timedelta(days=k)))
            if i % 2 == 0:  # half the offered redeem once, 2.0 discount on a 20.0 basket
                red.append(("c1", f"n{i}", 20.0, 2.0))
    for i in range(40):
        assign.append(("r1", f"a{i}", 5, "active", "d20", START, END, 0.9, 0.1, 3.0, False, "v3"))
        red.append(("c1", f"a{i}", 30.0, 3.0))
        pay.append((f"a{i}", 5, START))
        pay.append((f"a{i}", 5, END + dt.timedelta(days=1)))  # after the window: not counted
    assign.append(("r2", "x", 5, "new", "d20", START, END + dt.timedelta(days=30), 0.5, 1.0, 2.0, False, "v3"))
    return (spark.createDataFrame(assign, ASSIGN),
            spark.createDataFrame([("c1", "r1", "d20"), ("c0", None, None)],
                                  "campaign_id string, request_id string, design_id string"),
            spark.createDataFrame(red, "campaign_id string, user_id string, basket_amount double, "
                                  "discount_amount double"),
            spark.createDataFrame(pay, "user_id string, merchant_id long, event_date date"))


@pytest.fixture(scope="module")
def logged(spark):
    """The customers' outcomes of the logs (one cached frame) and the versions behind the plans."""
    assign, camps, red, pay = _logs(spark, offered_orders=1)
    ended = ended_assignments(assign, END + dt.timedelta(days=1))
    customers = customer_outcomes(ended, camps, red, pay).cache()
    versions = ended.groupBy("request_id").agg({"model_version": "first"}).withColumnRenamed(
        "first(model_version)", "model_version")
    yield customers, versions
    customers.unpersist()


def _report(logged, cfg):
    customers, versions = logged
    cells = report_cells(customers, END + dt.timedelta(days=1), cfg).cache()
    return {r.segment: r for r in cells.collect()}, retrain_triggers(cells, versions, END, cfg).collect()


def test_actual_vs_predicted_and_control_increments(logged):
    cells, triggers = _report(logged, ReportConfig(min_redemptions=10))
    new, active = cells["new"], cells["active"]
    assert (new.offered_customers, new.control_customers, new.redemptions) == (200, 100, 100)
    assert new.campaign_id == "c1" and new.actual_redemption_rate == pytest.approx(0.5)
    assert new.actual_cost == pytest.approx(200.0) and new.predicted_cost == pytest.approx(400.0)
    assert new.actual_basket == pytest.approx(20.0)
    assert new.actual_incremental_orders == pytest.approx(200.0)  # 1 order each vs 0 in control, × 200
    assert new.predicted_incremental_orders == pytest.approx(200.0)
    assert new.drifted == ["cost"]  # half the predicted cost, far beyond noise; rate and orders on target
    assert active.actual_incremental_orders is None and active.control_customers == 0  # no control group
    assert active.actual_redemption_rate == pytest.approx(1.0) and "redemption_rate" not in active.drifted
    assert [t.request_id for t in triggers] == ["r1"]  # r2 has not ended
    assert triggers[0].triggered and triggers[0].model_version == "v3"
    assert any(c.startswith("new/d20 cost: actual 200.000 vs predicted 400.000") for c in triggers[0].causes)
    written = set(new.asDict()) | {"run_id", "config_hash"}
    assert set(PROMO_REPORTS.column_names) <= written
    assert PROMO_REPORTS.partition_by == PROMO_RETRAIN_TRIGGERS.partition_by == ("request_id",)


def test_no_trigger_inside_the_bound_or_below_the_minimum_count(logged, spark):
    cells, triggers = _report(logged, ReportConfig(max_relative_error=1.5, min_redemptions=10))
    assert not triggers[0].triggered and triggers[0].causes == []  # the cost gap is inside a 150% bound
    assert cells["new"].drifted == [] and cells["new"].actual_cost == pytest.approx(200.0)
    with pytest.raises(ValueError, match="p_redeem"):
        ended_assignments(_logs(spark, 1)[0].drop("p_redeem"), END)


def test_usage_model_redemptions_are_counted_per_customer(spark):
    """Under the usage model (its version in model_version) p_redeem is the expected number of redemptions,
    so the actual side counts every redemption per offered customer, not the share who redeemed once."""
    from pyspark.sql import functions as F

    assign, camps, red, pay = _logs(spark, offered_orders=1)
    assign = assign.withColumn("model_version", F.lit("order0=1,usage=4"))
    twice = red.where(F.col("user_id").startswith("a"))  # every active customer redeems twice
    ended = ended_assignments(assign, END + dt.timedelta(days=1))
    customers = customer_outcomes(ended, camps, red.unionByName(twice), pay)
    cells = {r.segment: r for r in report_cells(customers, END, ReportConfig(min_redemptions=10)).collect()}
    assert cells["active"].actual_redemption_rate == pytest.approx(2.0)  # 80 redemptions / 40 offered
    assert cells["active"].predicted_redemption_rate == pytest.approx(0.9)
    assert "redemption_rate" in cells["active"].drifted
    assert cells["new"].actual_redemption_rate == pytest.approx(0.5) and "redemption_rate" not in cells["new"].drifted
