"""The click model fitted on the push log, the location sources and the calibrated conciliation, on
hand-built DataFrames (a few small Spark jobs)."""
from __future__ import annotations

import datetime as dt
import logging

import numpy as np
import pytest
from pyspark.sql import functions as F

from sendopt.channels.push import orchestrate as o
from sendopt.channels.push.calibrate import ClickModel, fit_click_model, fit_logistic
from sendopt.channels.push.config import PushConfig, StrategyEntry
from sendopt.channels.push.strategies.base import PushInputs, PushStrategy

D = dt.date(2026, 3, 1)
LOC = (59.33, 18.07)


def test_fit_logistic_recovers_the_coefficients_of_binomial_rows():
    rng = np.random.default_rng(3)
    x = np.column_stack([np.ones(400), rng.integers(0, 2, 400), rng.uniform(0, 4, 400)])
    true = np.array([-1.0, 1.2, -0.3])
    trials = np.full(400, 500.0)
    successes = rng.binomial(500, 1.0 / (1.0 + np.exp(-(x @ true)))).astype(float)
    assert fit_logistic(x, trials, successes, l2=0.0) == pytest.approx(true, abs=0.05)
    shrunk = fit_logistic(x, trials, successes, l2=1e6)
    assert abs(shrunk[1]) < 0.05 and abs(shrunk[2]) < 0.05, "the ridge pulls the slopes (not the intercept) to 0"
    held = fit_logistic(x, trials, successes, l2=1e6, prior=np.array([5.0, 0.7, 0.0]))
    assert held[1] == pytest.approx(0.7, abs=0.01) and held[0] != pytest.approx(5.0, abs=1.0), "… or to a prior"


class BarsAfterCinema(PushStrategy):
    """Test strategy: users u0..u9 want bars (5813) on even days, with affinity 0.8."""

    def interests(self, inputs: PushInputs):
        users = [f"u{i}" for i in range(10)] if inputs.run_date.toordinal() % 2 == 0 else []
        return inputs.users.sparkSession.createDataFrame(
            [(u, "5813", 0.8, "test") for u in users], "user_id string, mcc string, affinity double, reason string")


class NoReplay(PushStrategy):
    """Test strategy that only overrides candidates: it cannot be replayed."""

    def candidates(self, inputs):  # pragma: no cover - never called here
        raise AssertionError


def _inputs(spark, cfg):
    users = spark.createDataFrame([(f"u{i}", True, *LOC, "home") for i in range(10)],
                                  "user_id string, push_consent boolean, loc_lat double, loc_lon double, "
                                  "loc_source string")
    stores = spark.createDataFrame([(1, 1, "Bar", "5813", LOC[0], LOC[1], 0.0),
                                    (2, 2, "Far bar", "5813", LOC[0] + 0.3, LOC[1], 0.0)],
                                   "store_id long, merchant_id long, merchant_name string, mcc string, lat double, "
                                   "lon double, discount_pct double")
    return PushInputs(None, D, "north", "alpha", cfg, users, stores, read=None)


def test_click_model_learns_the_matched_strategy_and_distance(spark):
    """On even days the strategy's interest matches the logged bar pushes, which are clicked far more often;
    the far bar (33 km) is clicked less: the fit finds both, and only opened pushes count."""
    entry = StrategyEntry(name="bars", class_path=f"{__name__}:BarsAfterCinema", template="x")
    other = StrategyEntry(name="other", class_path=f"{__name__}:NoReplay", template="x")
    cfg = PushConfig(strategies=(entry, other), calibration={"days": 4, "min_opens": 100, "l2": 1.0})
    rng = np.random.default_rng(5)
    rows = []
    for n in range(800):
        day = D - dt.timedelta(days=1 + n % 4)
        store = 1 + (n // 4) % 2
        p = (0.6 if day.toordinal() % 2 == 0 else 0.15) * (0.5 if store == 2 else 1.0)
        opened = n % 5 != 0
        clicked = opened and rng.uniform() < p
        sent = dt.datetime.combine(day, dt.time(10))
        rows.append((f"p{n}", f"u{n % 10}", store, sent if opened else None, sent if clicked else None, day))
    pushes = spark.createDataFrame(rows, "push_id string, user_id string, store_id long, opened_at timestamp, "
                                         "clicked_at timestamp, event_date date")
    strategies = [BarsAfterCinema(entry, cfg), NoReplay(other, cfg)]
    model = fit_click_model(strategies, _inputs(spark, cfg), pushes, cfg, logging.getLogger("test"))
    assert model is not None and model.opens == 640 and model.clicks == sum(r[4] is not None for r in rows)
    assert model.matched == {"bars": sum(r[3] is not None and r[5].toordinal() % 2 == 0 for r in rows), "other": 0}
    assert model.slopes["bars"] > 1.0 and model.slopes["other"] == 0.0
    assert model.per_10km < 0


def test_location_sources_in_order(spark):
    customers = spark.createDataFrame(
        [("a", "north", "alpha", D - dt.timedelta(days=100), 59.0, 18.0, True),
         ("b", "north", "alpha", D - dt.timedelta(days=100), None, None, True)],
        "user_id string, region string, brand string, signup_date date, home_lat double, home_lon double, "
        "push_opt_in boolean")
    consents = spark.createDataFrame([], "user_id string, channel string, consented boolean, changed_at timestamp, "
                                         "event_date date")
    payments = spark.createDataFrame([(u, 60.0, 19.0, D - dt.timedelta(days=2)) for u in ("a", "b")],
                                     "user_id string, lat double, lon double, event_date date")
    stores = spark.createDataFrame([("north", 59.5, 18.5)], "region string, lat double, lon double")

    def located(sources):
        cfg = PushConfig(location_sources=sources)
        rows = o.market_users(customers, consents, payments, stores, "north", "alpha", D, cfg).collect()
        return {r.user_id: (r.loc_source, r.loc_lat) for r in rows}

    assert located(("home", "card_median")) == {"a": ("home", 59.0), "b": ("card_median", 60.0)}
    assert located(("card_median", "home")) == {"a": ("card_median", 60.0), "b": ("card_median", 60.0)}


def test_calibrated_conciliation_compares_click_probabilities(spark):
    """With p_click the higher calibrated probability wins even where the heuristic score is lower."""
    model = ClickModel(-2.0, {"a": 2.0, "b": 0.2}, -0.3, 40.0, 1000, 100)
    rows = [(f"u{i}", s, 10 + j, 1, "x", "5813", 2.0, aff, 0.0, "r")
            for i in range(50) for j, (s, aff) in enumerate((("a", 0.5), ("b", 0.9)))]
    cands = spark.createDataFrame(rows, "user_id string, strategy string, store_id long, merchant_id long, "
                                        "merchant_name string, mcc string, distance_km double, affinity double, "
                                        "discount_pct double, reason string")
    cfg = PushConfig(strategies=(StrategyEntry(name="a", class_path="m:A", template="x"),
                                 StrategyEntry(name="b", class_path="m:B", template="x")),
                     exploration={"share": 0.0})
    scored = o.score(cands, cfg, model)
    best = o.best_per_strategy(scored)
    draws = o.thompson_draws(spark, {"a": (100.0, 1000.0), "b": (100.0, 1000.0)}, cfg, D)
    chosen = o.conciliate(best, draws, cfg, D).toPandas()
    heuristic = {r.strategy: r.score for r in scored.where(F.col("user_id") == "u0").collect()}
    assert heuristic["b"] > heuristic["a"], "the heuristic prefers b"
    assert (chosen["strategy"] == "a").all(), "σ(-2 + 2·0.5 − 0.06) > σ(-2 + 0.2·0.9 − 0.06)"
    expected = 1.0 / (1.0 + np.exp(-(-2.0 + 2.0 * 0.5 - 0.3 * 0.2)))
    assert chosen["calibrated_score"].to_numpy() == pytest.approx(np.full(50, expected))
