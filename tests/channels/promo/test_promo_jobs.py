"""submit-promo-request → plan-promos → re-runs → evaluate-promos on the tiny generated world (one CLI path)."""
from __future__ import annotations

import json

import pytest
from pyspark.sql import functions as F

from sendopt.catalog import open_lake
from sendopt.channels.promo.models import load_champion
from sendopt.cli import main
from sendopt.config import load_config

FAST = ["promo.models.backend=local", "promo.models.num_boost_round=15", "promo.models.early_stopping_rounds=5", "promo.tuning.trials=4",
        "promo.designer.max_designs=4", "promo.tuning.log_trials=false",
        "promo.models.level_error_folds=3"]  # 3 refits, not the default 10: the same path, fewer fits


def test_requests_are_planned_once_replanned_in_place_and_evaluated(spark, tiny_world):
    args, config = tiny_world
    args = [*args, *[a for item in FAST for a in ("--set", item)]]
    config = load_config("local", overrides=[a for a in args if a != "--set"])
    lake = open_lake(spark, config)
    merchant = lake.read("raw.promo_campaigns").groupBy("merchant_id").count().orderBy(
        F.desc("count"), "merchant_id").first()["merchant_id"]
    run_date = config.world.start_date.toordinal() + config.world.days - 1
    start = str(type(config.world.start_date).fromordinal(run_date + 1))
    end = str(type(config.world.start_date).fromordinal(run_date + 10))
    ok = {"request_id": "t-ok", "merchant_id": int(merchant), "start_date": start, "end_date": end, "budget": 50}
    cps = {**ok, "request_id": "t-cps", "max_cps": 0.001}
    past = {**ok, "request_id": "t-past", "start_date": "2020-01-01"}
    assert main(["submit-promo-request", *args, "--request", json.dumps(ok)]) == 0
    from sendopt.api import Session
    from sendopt.channels.promo.requests import RequestError

    api = Session(config, spark, lake)
    assert api.submit_promo_request(cps)["status"] == "pending"
    with pytest.raises(RequestError, match="start_date: 2020-01-01 is in the past"):
        api.submit_promo_request(past)

    assert main(["plan-promos", *args]) == 0
    status = {r["request_id"]: r for r in lake.read("ops.promo_request_status").collect()}
    assert status["t-ok"]["status"] == "planned" and status["t-cps"]["status"] == "failed"
    assert "cost-per-incremental-sale limit" in status["t-cps"]["reason"]
    assert set(status["t-ok"]["model_versions"]) == {"order0", "order1", "redeem", "basket", "orders", "discount", "usage"}
    a = lake.read("decisions.promo_assignments")
    first = a.where(F.col("request_id") == "t-ok").select("user_id", "design_id", "run_id").collect()
    assert a.where(F.col("request_id") == "t-cps").count() == 0
    seg = lake.read("analytics.promo_segments").where(F.col("opted_out"))
    assert a.join(seg, ["request_id", "user_id"]).count() == 0  # opted-out customers never get a promo
    chosen = lake.read("decisions.promo_plans").where((F.col("request_id") == "t-ok")
                                                      & (F.col("kind") == "chosen")).first()
    assert chosen["feasible"] and chosen["metrics"]["cost_p90"] <= 50 + 1e-6
    assert abs(sum(r["predicted_cost"] for r in a.where(F.col("request_id") == "t-ok").collect())
               - chosen["metrics"]["cost"]) <= 0.35 * chosen["metrics"]["cost"] + 1.0  # partial units by hash
    reached = chosen["metrics"]["reached"]  # the re-scored chosen designs land in the same units as the statistics
    assert abs(len(first) - reached) <= 0.2 * reached + 5
    err = json.loads(load_champion(config, "usage")[1]["usage"])["level_error"]  # unseen campaigns' level error
    assert err["folds"] == 3 and err["campaigns"] >= 2 and err["sd"] >= 0
    assert err["merchants"] and all(o >= 0 and p >= 0 for o, p in err["merchants"].values())  # per merchant

    assert main(["plan-promos", *args]) == 0  # nothing pending: planned exactly once
    assert lake.read("ops.promo_request_status").count() == 2
    assert main(["plan-promos", *args, "--set", "promo.replan=[t-ok]"]) == 0
    again = lake.read("decisions.promo_assignments").where(F.col("request_id") == "t-ok")
    assert again.count() == len(first) and again.select("user_id").distinct().count() == len(first)
    assert {r["run_id"] for r in again.collect()} != {r["run_id"] for r in first} or not first

    assert main(["evaluate-promos", *args]) == 0
    ev = {r["policy"]: r["metrics"] for r in lake.read("analytics.promo_evaluation").where(
        F.col("request_id") == "t-ok").collect()}
    assert {"tuned", "blanket", "best_fixed", "segment_rule"} <= set(ev)
    assert ev["tuned"]["cost"] <= 50 + 1e-6
    offered = again.where(~F.col("holdout"))  # the plan's control group is held back, and not evaluated as offered
    assert ev["tuned"]["reached"] == offered.count()
    assert {r["offer_probability"] for r in again.collect()} <= {0.9}
